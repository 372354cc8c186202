"""Session fixtures for serving tests (builders live in serving_builders.py)."""

from __future__ import annotations

import pytest
from serving_builders import INSIGNIFICANT, SIGNIFICANT, make_champion, make_dataset

from features.dataset import MarketDataset


@pytest.fixture(scope="session")
def market() -> MarketDataset:
    """A small market dataset from a CSV-like source."""
    return make_dataset()


@pytest.fixture(scope="session")
def demo_market(market) -> MarketDataset:
    """The same bars, labelled as the demo source."""
    return MarketDataset.from_bars(market.bars, market.universe, "demo:seed=7")


@pytest.fixture(scope="session")
def champion_insignificant(tmp_path_factory):
    return make_champion(tmp_path_factory.mktemp("champ_insig"), INSIGNIFICANT)


@pytest.fixture(scope="session")
def champion_significant(tmp_path_factory):
    return make_champion(tmp_path_factory.mktemp("champ_sig"), SIGNIFICANT)


# ---- the service: a tiny champion in a temporary store, and one real server for the slow tests ----
@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """A model store holding a tiny champion trained on the demo market the service tests load."""
    from serving_builders import train_demo_store

    return train_demo_store(tmp_path_factory.mktemp("model_store"))


@pytest.fixture(scope="session")
def live_server(demo_store, tmp_path_factory):
    """`sector-heatmap serve` in a subprocess on a free loopback port (demo data, the tiny champion).

    Yields the base URL; stops the server with SIGTERM at the end and checks it exits cleanly.
    """
    from serving_builders import LiveServer

    with LiveServer(demo_store, tmp_path_factory.mktemp("server")) as server:
        yield server


# ---- the service in-process: one ASGI app for the whole session, shared by every module that needs it ----
@pytest.fixture(scope="session")
def service_app():
    """One ASGI app per process: BentoML registers its Prometheus metrics per app, a second app would clash.

    Every `with TestClient(app)` runs the lifespan again, so __init__ reads the environment anew;
    only one client may be open at a time (BentoML keeps one service instance per app).
    """
    from serving.service import SectorHeatmap

    return SectorHeatmap.to_asgi()


@pytest.fixture(scope="session")
def open_client(service_app):
    """open_client(store, api_key=None, source=DEMO_SOURCE, config=None) -> context manager yielding a
    TestClient with that environment (config: a YAML file for SECTOR_HEATMAP_CONFIG)."""
    from contextlib import contextmanager

    from serving_builders import DEMO_SOURCE
    from starlette.testclient import TestClient

    from serving.auth import API_KEY_ENV
    from serving.state import CONFIG_ENV, SOURCE_ENV
    from training.config import STORE_ENV

    @contextmanager
    def open_(store, api_key: str | None = None, source: str = DEMO_SOURCE, config=None):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(SOURCE_ENV, source)
            mp.setenv(STORE_ENV, str(store))
            if config is None:
                mp.delenv(CONFIG_ENV, raising=False)
            else:
                mp.setenv(CONFIG_ENV, str(config))
            if api_key:
                mp.setenv(API_KEY_ENV, api_key)
            else:
                mp.delenv(API_KEY_ENV, raising=False)
            with TestClient(service_app) as client:
                yield client

    return open_
