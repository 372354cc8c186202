"""Market overview, macro indicators, rotation quadrants and stock analysis, checked against
independent pandas computations on the demo market, and causal (the same on a cut dataset)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.dataset import MarketDataset
from features.errors import RequestError
from features.overview import macro_indicators, market_overview
from features.rotation import quadrant, sector_rotation
from features.stock import stock_analysis

AS_OF = "2024-03-15"


@pytest.fixture(scope="module")
def ds() -> MarketDataset:
    return MarketDataset.load("demo:years=4,seed=21", "us_sectors")


@pytest.fixture(scope="module")
def members() -> MarketDataset:
    return MarketDataset.load("demo:sectors=3,stocks=15,years=3,seed=4", "us_sectors")


def test_macro_values_and_changes_by_hand(ds):
    out = macro_indicators(ds, ["vix", "curve_10y_5y", "oil"], as_of=AS_OF)
    ctx = ds.panels.context.loc[:AS_OF]
    vix, curve, oil = out["indicators"]
    assert vix["value"] == pytest.approx(ctx["vix"].dropna().iloc[-1], abs=1e-4)
    assert vix["change"]["1M"] == pytest.approx(ctx["vix"].iloc[-1] - ctx["vix"].iloc[-22], abs=1e-4)
    assert curve["value"] == pytest.approx((ctx["yield_10y"] - ctx["yield_5y"]).iloc[-1], abs=1e-4)
    assert oil["change"]["3M"] == pytest.approx(100 * (ctx["oil"].iloc[-1] / ctx["oil"].iloc[-64] - 1), abs=0.01)
    assert oil["source"] == ["CL=F"] and oil["date"] <= AS_OF and out["as_of"] <= AS_OF


def test_unknown_or_absent_indicator_is_named(ds):
    with pytest.raises(RequestError, match=r"indicators: unknown 'inflation'; valid: vix, yield_10y"):
        macro_indicators(ds, ["inflation"])
    thin = MarketDataset.from_bars(ds.bars[ds.bars["ticker"] != "^VIX"], ds.universe, ds.source)
    with pytest.raises(RequestError, match="'vix' is not in this data"):
        macro_indicators(thin, ["vix"])


def test_overview_by_hand_and_causal(ds):
    o = market_overview(ds, AS_OF)
    spy = ds.panels.benchmark["close"].loc[:AS_OF]
    assert o["benchmark_return_pct"]["1M"] == pytest.approx(100 * (spy.iloc[-1] / spy.iloc[-22] - 1), abs=0.01)
    close = ds.panels.close.loc[:AS_OF]
    spread = (close.iloc[-1] / close.iloc[-64] - 1) - (spy.iloc[-1] / spy.iloc[-64] - 1)
    assert o["breadth"]["3M"] == {"beat_benchmark": int((spread > 0).sum()), "sectors": int(spread.notna().sum())}
    vix = ds.panels.context["vix"].loc[:AS_OF].iloc[-252:]
    assert o["volatility_regime"]["percentile_1y"] == pytest.approx((vix <= vix.iloc[-1]).mean(), abs=1e-3)
    cut = market_overview(ds.upto(AS_OF))  # the latest of a cut dataset is the same day
    assert {k: v for k, v in cut.items() if k != "data_through"} == {k: v for k, v in o.items() if k != "data_through"}


@pytest.mark.parametrize(
    "ratio, momentum, expected",
    [
        (101, 102, "leading"),
        (101, 99, "weakening"),
        (99, 98, "lagging"),
        (99, 101, "improving"),
        (100, 100, "leading"),
        (np.nan, 100, None),
    ],
)
def test_quadrants(ratio, momentum, expected):
    assert quadrant(ratio, momentum) == expected


def test_rotation_coordinates_are_the_features(ds):
    r = sector_rotation(ds, AS_OF)
    rows = ds.features.xs(pd.Timestamp(r["as_of"]), level="date")
    for c in r["relative_rotation"]:
        assert c["rs_ratio"] == pytest.approx(rows.loc[c["ticker"], "rs_ratio"], abs=0.01)
        assert c["quadrant"] == quadrant(rows.loc[c["ticker"], "rs_ratio"], rows.loc[c["ticker"], "rs_momentum"])
    assert [row["ticker"] for row in r["rows"]]  # the matrix travels along, ordered by 12M


def test_stock_analysis_of_a_sector_etf_by_hand(ds):
    a = stock_analysis(ds, "xlk", AS_OF)  # case-insensitive
    close = ds.panels.close["XLK"].loc[:AS_OF]
    spy = ds.panels.benchmark["close"].loc[:AS_OF]
    rel = 100 * ((close.iloc[-1] / close.iloc[-22] - 1) - (spy.iloc[-1] / spy.iloc[-22] - 1))
    assert a["ticker"] == "XLK" and a["kind"] == "sector" and a["sector"]["name"] == "Technology"
    assert a["return_vs_benchmark_pp"]["1M"] == pytest.approx(rel, abs=0.01)
    assert 1 <= a["standing"]["rank"] <= a["standing"]["of"] == 11


def test_stock_analysis_of_a_member_ranks_it_in_its_sector(members):
    sector = members.universe.sectors[0]
    a = stock_analysis(members, sector.members[0])
    assert a["kind"] == "member" and a["sector"]["ticker"] == sector.key
    assert a["standing"]["among"] == "members of its sector" and 1 <= a["standing"]["rank"] <= a["standing"]["of"]


def test_unknown_ticker_names_what_it_can_analyse(ds):
    with pytest.raises(RequestError, match=r"ticker: unknown 'NOPE'; this data can analyse .*XLK"):
        stock_analysis(ds, "NOPE")
    with pytest.raises(RequestError, match="ticker: unknown"):
        stock_analysis(ds, "/etc/passwd")
