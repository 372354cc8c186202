"""Session fixtures for serving tests (builders live in serving_builders.py)."""
from __future__ import annotations

import pandas as pd
import pytest
from serving_builders import INSIGNIFICANT, SIGNIFICANT, make_champion, make_loaded

from features.pipeline import LoadedMarket
from features.sources import MarketData
from features.table import build_feature_table


@pytest.fixture(scope="session")
def market() -> tuple[LoadedMarket, pd.DataFrame]:
    """(loaded market from a CSV-like source, its feature table)."""
    loaded = make_loaded()
    return loaded, build_feature_table(loaded.panels)


@pytest.fixture(scope="session")
def demo_market(market) -> tuple[LoadedMarket, pd.DataFrame]:
    """The same bars, labelled as the demo source."""
    loaded, table = market
    return LoadedMarket(MarketData(bars=loaded.market.bars, source="demo:seed=7"), loaded.universe, loaded.panels), table


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
