"""Features on date t must not depend on anything after t (the look-ahead guard of the feature layer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.sectors import sector_panels
from features.sources.demo import demo_market
from features.table import build_feature_table


@pytest.fixture(scope="module")
def market():
    bars, universe = demo_market(years=4, seed=11, end="2022-12-30")
    return bars, universe


def _table(bars, universe):
    return build_feature_table(sector_panels(bars, universe))


@pytest.mark.parametrize("cut", ["2021-06-30", "2022-03-15"])
def test_features_identical_without_or_with_changed_future(market, cut):
    bars, universe = market
    full = _table(bars, universe)
    cut = pd.Timestamp(cut)
    truncated = _table(bars[bars["date"] <= cut], universe)
    rng = np.random.default_rng(0)
    changed = bars.copy()
    after = changed["date"] > cut
    shock = np.exp(rng.normal(0, 0.05, after.sum()))
    for col in ("open", "high", "low", "close"):
        changed.loc[after, col] = changed.loc[after, col] * shock
    changed.loc[after, "volume"] = changed.loc[after, "volume"] * 3
    altered = _table(changed, universe)
    upto = lambda t: t[t.index.get_level_values("date") <= cut]  # noqa: E731
    pd.testing.assert_frame_equal(upto(full), truncated, check_exact=False, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(upto(full), upto(altered), check_exact=False, rtol=1e-9, atol=1e-12)
    # and the future really was different, so the test could fail
    later = full.index.get_level_values("date") > cut
    assert not np.allclose(
        full[later]["rel_ret_1w"].fillna(0),
        altered[altered.index.get_level_values("date") > cut]["rel_ret_1w"].fillna(0),
    )


def test_a_gap_at_the_cut_does_not_leak(market):
    """A sector missing the last sessions before t looks the same whether or not it resumes later."""
    bars, universe = market
    cut = pd.Timestamp("2022-06-15")
    gap = (bars["ticker"] == "XLK") & (bars["date"] > cut - pd.Timedelta(days=14)) & (bars["date"] <= cut)
    holed = bars[~gap]
    resumed = _table(holed, universe)
    never = _table(holed[(holed["date"] <= cut) | (holed["ticker"] != "XLK")], universe)
    upto = lambda t: t[t.index.get_level_values("date") <= cut]  # noqa: E731
    pd.testing.assert_frame_equal(upto(resumed), upto(never))


def test_rows_start_when_a_sector_lists(market):
    bars, universe = market
    table = _table(bars, universe)
    first = table.reset_index().groupby("sector")["date"].min()
    listed = bars.groupby("ticker")["date"].min()
    for sector, day in first.items():
        assert day == listed[sector]
