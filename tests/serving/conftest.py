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
