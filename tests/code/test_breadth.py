"""Breadth of a constituent universe: causal like every feature, and equal to counts made by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.breadth import NET_HIGHS, above_sma, net_advancers, sector_drilldown
from features.dataset import MarketDataset
from features.errors import RequestError
from features.sectors import sector_panels
from features.sources.demo import demo_market
from features.table import build_feature_table

BREADTH = ["breadth_above_sma50", "breadth_above_sma200", "breadth_net_adv_1m", NET_HIGHS]


@pytest.fixture(scope="module")
def market():
    return demo_market(sectors=3, stocks=15, years=3, seed=21, end="2022-12-30")


@pytest.fixture(scope="module")
def ds(market) -> MarketDataset:
    bars, universe = market
    return MarketDataset.from_bars(bars, universe, "demo")


def _table(bars, universe):
    return build_feature_table(sector_panels(bars, universe))


@pytest.mark.parametrize("cut", ["2021-09-30", "2022-06-15"])
def test_breadth_identical_without_or_with_changed_future(market, cut):
    bars, universe = market
    cut = pd.Timestamp(cut)
    full = _table(bars, universe)
    truncated = _table(bars[bars["date"] <= cut], universe)
    changed = bars.copy()
    after = changed["date"] > cut
    shock = np.exp(np.random.default_rng(0).normal(0, 0.08, after.sum()))
    for col in ("open", "high", "low", "close"):
        changed.loc[after, col] = changed.loc[after, col] * shock
    altered = _table(changed, universe)
    upto = lambda t: t[t.index.get_level_values("date") <= cut]  # noqa: E731
    pd.testing.assert_frame_equal(upto(full), truncated, check_exact=False, rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(upto(full), upto(altered), check_exact=False, rtol=1e-9, atol=1e-12)
    assert set(BREADTH) <= set(full.columns)
    later = lambda t: t[t.index.get_level_values("date") > cut]["breadth_net_adv_1w"].fillna(0)  # noqa: E731
    assert not np.allclose(later(full), later(altered))  # the future really differed: the test can fail


def test_breadth_features_match_counts_by_hand(ds):
    """On one date, recount each sector's members from the tidy bars (no shared code with the block)."""
    day = ds.panels.dates[-40]
    bars = ds.bars[ds.bars["date"] <= day]
    wide = bars.pivot(index="date", columns="ticker", values="close").reindex(ds.panels.dates[ds.panels.dates <= day])
    wide = wide.ffill(limit=ds.config.max_fill)
    row = ds.features.xs(day, level="date")
    for sec in ds.universe.sectors:
        c = wide[list(sec.members)]
        last = c.iloc[-1]
        sma50 = c.iloc[-50:].mean().where(c.iloc[-50:].notna().all())
        ok = last.notna() & sma50.notna()
        assert row.loc[sec.key, above_sma(50)] == pytest.approx((last[ok] > sma50[ok]).mean())
        before = c.iloc[-1 - 21]
        ok = last.notna() & before.notna()
        net = ((last[ok] > before[ok]).sum() - (last[ok] < before[ok]).sum()) / ok.sum()
        assert row.loc[sec.key, net_advancers("1M")] == pytest.approx(net)
        year = c.iloc[-252:]
        full = year.notna().all() & last.notna()
        highs = (last[full] >= year.loc[:, full].max()).sum()
        lows = (last[full] <= year.loc[:, full].min()).sum()
        assert row.loc[sec.key, NET_HIGHS] == pytest.approx((highs - lows) / full.sum())


def test_drilldown_members_add_up(ds):
    key = ds.universe.sectors[1].key
    d = sector_drilldown(ds, key.upper(), "3M", "2022-11-15")
    assert d["as_of"] == "2022-11-15" and d["sector"]["ticker"] == key and d["members_loaded"]
    m = d["members"]
    assert len(m) == 15 and {r["ticker"] for r in m} == set(ds.universe.sectors[1].members)
    priced = [r for r in m if r["weight"] is not None]
    assert sum(r["weight"] for r in priced) == pytest.approx(1.0, abs=1e-3)
    assert d["concentration"]["top_weight"] == pytest.approx(sum(sorted(r["weight"] for r in priced)[-5:]), abs=1e-3)
    # vs sector and vs benchmark are the member's return minus each
    r = m[0]
    assert r["vs_sector_pp"] == pytest.approx(r["return_pct"] - d["sector"]["return_pct"], abs=0.02)
    assert r["vs_benchmark_pp"] == pytest.approx(r["return_pct"] - d["sector"]["benchmark_return_pct"], abs=0.02)
    # contributors are the ends of the contribution ranking, and roughly sum to the sector's move
    ranked = sorted((x for x in m if x["contribution_pp"] is not None), key=lambda x: -x["contribution_pp"])
    assert d["top_contributors"] == [x["ticker"] for x in ranked[:5]]
    assert d["bottom_contributors"] == [x["ticker"] for x in ranked[::-1][:5]]
    assert d["contribution_sum_pp"] == pytest.approx(d["sector"]["return_pct"], abs=1.5)
    ad = d["breadth"]["advance_decline"]
    assert ad["up"] + ad["down"] <= ad["of"] <= 15


def test_drilldown_uses_nothing_after_as_of(ds):
    key = ds.universe.sectors[0].key
    assert sector_drilldown(ds, key, "1M", "2022-06-15") == sector_drilldown(ds.upto("2022-06-15"), key, "1M")


def test_drilldown_of_an_etf_universe_says_no_members():
    etf = MarketDataset.load("demo:years=2,seed=4", "us_sectors")
    d = sector_drilldown(etf, "Technology", "1M")
    assert d["sector"]["ticker"] == "XLK" and not d["members_loaded"] and d["members"] == []
    assert d["breadth"] is None and "no members are loaded" in d["note"]
    assert d["sector"]["rel_return_pp"] is not None
    with pytest.raises(RequestError, match="sector: unknown 'XLZ'.*XLK"):
        sector_drilldown(etf, "XLZ", "1M")
    with pytest.raises(RequestError, match="timeframe"):
        sector_drilldown(etf, "XLK", "2Y")
