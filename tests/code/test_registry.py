"""The feature set is declared once: each block's names are what it computes, the registry lists the
table's exact columns, and a column someone needs but the table lacks is named at start-up."""

from __future__ import annotations

from dataclasses import replace

import pytest

from features.config import FeatureConfig
from features.dataset import MarketDataset
from features.errors import ConfigError
from features.registry import SECTOR_BLOCKS, feature_columns, require_columns


@pytest.fixture(scope="module")
def demo() -> MarketDataset:
    return MarketDataset.load("demo:years=3,seed=5", "us_sectors")


@pytest.fixture(scope="module")
def constituents() -> MarketDataset:
    return MarketDataset.load("demo:sectors=3,stocks=12,years=2,seed=5", "us_sectors")


@pytest.mark.parametrize("block", SECTOR_BLOCKS, ids=lambda b: b.name)
def test_each_block_computes_exactly_the_columns_it_declares(demo, constituents, block):
    data = constituents if block.members else demo
    for cfg in (
        FeatureConfig(),
        replace(
            FeatureConfig(), trend_windows=(20, 100), volatility_windows=(10, 30), beta_window=60, updown_window=10
        ),
    ):
        assert list(block.compute(data.panels, cfg)) == block.columns(cfg)


def test_registry_lists_the_tables_columns_in_order(demo):
    assert list(demo.features.columns) == feature_columns(demo.config, demo.panels.context.columns)
    cfg = replace(FeatureConfig(), updown_window=10)
    ds = MarketDataset.from_bars(demo.bars, demo.universe, demo.source, cfg)
    assert "updown_volume_10d" in ds.features.columns and "updown_volume_21d" not in ds.features.columns
    assert list(ds.features.columns) == feature_columns(cfg, ds.panels.context.columns)


def test_breadth_columns_only_for_constituent_universes(demo, constituents):
    """Breadth (from members' prices) is in the table of a constituent universe, and only there."""
    assert not any(c.startswith("breadth_") for c in demo.features.columns)
    cols = feature_columns(constituents.config, constituents.panels.context.columns, members=True)
    assert list(constituents.features.columns) == cols
    assert "breadth_above_sma50" in cols and "breadth_net_highs_52w_xs_rank" in cols


def test_a_missing_column_is_named():
    with pytest.raises(ConfigError, match="the serving config needs feature column.*vol_30d"):
        require_columns(["vol_21d", "vol_30d"], ["vol_21d", "vol_63d"], "the serving config")
    require_columns(["vol_21d"], ["vol_21d"], "anyone")  # nothing missing: no error


def test_serving_config_is_checked_against_the_table_at_start(demo):
    """A re-windowed feature is caught when the universe loads, not as a 400 on every request."""
    from serving.config import ServingConfig
    from serving.state import check_serving_columns

    check_serving_columns(ServingConfig(), demo)
    changed = MarketDataset.from_bars(
        demo.bars, demo.universe, demo.source, replace(FeatureConfig(), volatility_windows=(20, 60, 120))
    )
    with pytest.raises(ConfigError, match="vol_21d"):
        check_serving_columns(ServingConfig(), changed)
    with pytest.raises(ConfigError, match="window.*2Y"):
        check_serving_columns(ServingConfig(descriptive_windows=("1M", "2Y")), demo)


def test_a_model_needing_a_missing_column_is_not_served(demo):
    from types import SimpleNamespace

    from serving.state import model_fits

    assert model_fits(SimpleNamespace(forecaster=SimpleNamespace(feature_names=["vol_21d"])), demo) is None
    why = model_fits(SimpleNamespace(forecaster=SimpleNamespace(feature_names=["vol_21d", "news_sentiment"])), demo)
    assert why is not None and "news_sentiment" in why
