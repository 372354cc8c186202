"""The breakeven-inflation proxy (duration-hedged TIP vs TLT): what it measures, that it is causal,
that it reaches the macro model, and that the macro model runs without it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import FeatureConfig
from features.context import BREAKEVEN_HEDGE, context_features
from features.sectors import sector_panels
from features.sources.demo import demo_market
from training.families import MACRO_FACTORS, MacroInputs, fit_macro, score_macro

CUT = pd.Timestamp("2021-06-30")
WINDOW = 504


@pytest.fixture(scope="module")
def market():
    return demo_market(years=4, seed=11, end="2022-12-30")


def _shocked(bars: pd.DataFrame, ticker: str, where) -> pd.DataFrame:
    """`ticker`'s prices times a random walk on the rows `where(date)` selects."""
    out = bars.copy()
    rows = (out["ticker"] == ticker) & where(out["date"])
    shock = np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, rows.sum())))
    for col in ("open", "high", "low", "close"):
        out.loc[rows, col] = out.loc[rows, col] * shock
    return out


def test_the_proxy_ignores_parallel_nominal_moves_and_tracks_breakevens():
    """Synthetic bonds priced off yields with TIP's and TLT's durations: a parallel move in nominal and
    real yields (breakeven unchanged) leaves the hedged proxy flat where log(TIP/TLT) swings, and a
    breakeven rise shows as D_TIP x the rise."""
    d_tip = BREAKEVEN_HEDGE * 17.0
    n = 200
    rng = np.random.default_rng(1)
    d_nominal = rng.normal(0, 0.0007, n)  # ~7bp a day, like the 10y yield
    d_breakeven = np.r_[np.zeros(n // 2), np.full(n // 2, 0.0001)]
    d_real = d_nominal - d_breakeven
    tip = 50 * np.exp(np.cumsum(-d_tip * d_real))
    tlt = 90 * np.exp(np.cumsum(-17.0 * d_nominal))
    dates = pd.bdate_range("2020-01-01", periods=n)
    close = pd.Series(100.0, index=dates)
    ctx = pd.DataFrame({"tips": tip, "long_treasury": tlt}, index=dates)
    panels = sector_panels_stub(close, ctx)
    cfg = FeatureConfig()
    proxy = context_features(panels, cfg)["breakeven_1m"]
    w = cfg.context_window
    flat, rising = proxy.iloc[w : n // 2], proxy.iloc[n // 2 + w :]
    np.testing.assert_allclose(flat, 0.0, atol=1e-12)
    np.testing.assert_allclose(rising, d_tip * 0.0001 * w, rtol=1e-9)
    naive = np.log(ctx["tips"] / ctx["long_treasury"]).diff(w).iloc[w : n // 2]
    assert naive.abs().max() > d_tip * 0.0001 * w  # unhedged, rate moves alone swamp a 21bp breakeven move


def sector_panels_stub(close: pd.Series, context: pd.DataFrame):
    """The few SectorPanels fields context_features reads."""
    from features.sectors import SectorPanels

    wide = close.to_frame("XLK")
    bench = pd.DataFrame({k: close for k in ("open", "high", "low", "close", "volume")})
    return SectorPanels(wide, wide, wide, wide, wide, bench, context, {"XLK": "Technology"})


def test_the_proxy_and_the_macro_fit_are_causal(market):
    """Changing TIP after the cut leaves the proxy and the macro fit up to the cut identical."""
    bars, universe = market
    assert "TIP" in set(bars["ticker"]), "the demo market simulates TIP"
    base = sector_panels(bars, universe)
    changed = sector_panels(_shocked(bars, "TIP", lambda d: d > CUT), universe)
    cfg = FeatureConfig()
    a, b = context_features(base, cfg)["breakeven_1m"], context_features(changed, cfg)["breakeven_1m"]
    pd.testing.assert_series_equal(a[:CUT], b[:CUT])
    assert not np.allclose(a[a.index > CUT], b[b.index > CUT])  # the future really changed
    fa = fit_macro(MacroInputs.of(base), CUT, WINDOW)
    fb = fit_macro(MacroInputs.of(changed), CUT, WINDOW)
    assert fa == fb
    assert "breakeven_1m" in fa["factors"] and not fa["missing"]


def test_tip_changes_the_macro_models_inputs(market):
    """TIP's past enters the macro fit (betas move when it changes) and its score (via breakeven_1m)."""
    bars, universe = market
    base = sector_panels(bars, universe)
    changed = sector_panels(_shocked(bars, "TIP", lambda d: d <= CUT), universe)
    pa, pb = fit_macro(MacroInputs.of(base), CUT, WINDOW), fit_macro(MacroInputs.of(changed), CUT, WINDOW)
    i = pa["factors"].index("breakeven_1m")
    moved = [abs(pa["betas"][s][i] - pb["betas"][s][i]) for s in pa["betas"]]
    assert max(moved) > 1e-3
    X = context_features(base, FeatureConfig()).loc[[CUT]]
    X = pd.concat({s: X for s in pa["betas"]}, names=["sector", "date"]).swaplevel().sort_index()
    bumped = X.assign(breakeven_1m=X["breakeven_1m"] + 0.05)
    assert not np.allclose(score_macro(pa, X), score_macro(pa, bumped))


@pytest.mark.parametrize("dropped", [["TIP"], ["TIP", "TLT"]])
def test_without_tip_the_macro_model_uses_what_it_has_and_names_the_rest(market, dropped, caplog):
    bars, universe = market
    panels = sector_panels(bars[~bars["ticker"].isin(dropped)], universe)
    table = context_features(panels, FeatureConfig())
    assert "breakeven_1m" not in table  # no zero-filled stand-in
    with caplog.at_level("WARNING", logger="training.families"):
        inputs = MacroInputs.of(panels)
    assert "breakeven_1m" in caplog.text
    params = fit_macro(inputs, CUT, WINDOW)
    assert params["missing"] == ["breakeven_1m"]
    assert params["factors"] == [f for f in MACRO_FACTORS if f != "breakeven_1m"]
    X = table.loc[[CUT]]
    X = pd.concat({s: X for s in params["betas"]}, names=["sector", "date"]).swaplevel().sort_index()
    score = score_macro(params, X)
    assert np.isfinite(score).all() and score.std() > 0


def test_a_factor_not_yet_listed_is_left_out_of_that_fit(market):
    """TIP listed only after the fit's window: the fit keeps the other factors for every sector."""
    bars, universe = market
    late = bars[~((bars["ticker"] == "TIP") & (bars["date"] <= CUT))]
    params = fit_macro(MacroInputs.of(sector_panels(late, universe)), CUT, WINDOW)
    assert params["missing"] == ["breakeven_1m"] and "breakeven_1m" not in params["factors"]
    assert len(params["betas"]) == len(universe.sectors)
