"""Market context shared by every sector on a date: volatility, rates, credit, dollar, commodities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.sectors import SectorPanels
from features.volatility import daily_log_returns

RETURN_SERIES = ("long_treasury", "dollar", "oil", "gold")  # context series shown as a 1M log return

# Breakeven-inflation proxy: TIPS (TIP) against nominal Treasuries (TLT), the only nominal bond ETF in
# the data. A plain log(TIP/TLT) mixes in the duration gap: TIP's effective duration is ~7 years, TLT's
# ~17, so a parallel fall in nominal yields with breakevens unchanged would read as falling breakevens
# (TLT gains ~2.4x TIP's). Hedging TLT by the duration ratio cancels that parallel move:
# r_TIP - (D_TIP / D_TLT) r_TLT ~ -D_TIP dReal + D_TIP dNominal = D_TIP x d(breakeven).
# What is left is only approximate: the two sit at different points of the curve (a steepening still
# leaks in) and the durations drift. A 7-10y Treasury ETF (IEF, duration ~7.5) would match without a
# ratio, but the data has none.
BREAKEVEN_HEDGE = 7.0 / 17.0
BREAKEVEN_SERIES = ("tips", "long_treasury")


def context_columns(present) -> list[str]:
    """The context columns the table holds when the series `present` (context names) are loaded."""
    c = set(present)
    cols = ["mkt_ret_1m", "mkt_vol_1m"]
    if "vix" in c:
        cols += ["vix", "vix_chg_1m"]
    if "yield_10y" in c:
        cols += ["yield_10y", "yield_10y_chg_1m"] + (["curve_10y_5y"] if "yield_5y" in c else [])
    if {"high_yield", "investment_grade"} <= c:
        cols.append("credit_1m")
    cols += [f"{name}_ret_1m" for name in RETURN_SERIES if name in c]
    if {"copper", "gold"} <= c:
        cols.append("copper_gold_1m")
    if set(BREAKEVEN_SERIES) <= c:
        cols.append("breakeven_1m")
    return cols


def breakeven(log_ret, c: pd.DataFrame) -> pd.Series:
    """The duration-hedged TIP vs TLT return over the horizon of `log_ret` (see BREAKEVEN_HEDGE)."""
    return log_ret(c["tips"]) - BREAKEVEN_HEDGE * log_ret(c["long_treasury"])


def _deferred(fn, frame: pd.DataFrame, name: str):
    """fn(frame[name]), computed only if the column is asked for."""
    return lambda: fn(frame[name])


def context_features(p: SectorPanels, cfg: FeatureConfig) -> pd.DataFrame:
    """One row per date; only series present in the data contribute (each is optional)."""
    c = p.context
    w = cfg.context_window

    def change(x: pd.Series) -> pd.Series:
        return x - x.shift(w)

    def log_ret(x: pd.Series) -> pd.Series:
        return np.log(x.where(x > 0)).diff(w)

    values = {
        "mkt_ret_1m": lambda: log_ret(p.benchmark["close"]),
        "mkt_vol_1m": lambda: (
            daily_log_returns(p.benchmark["close"]).rolling(w, min_periods=w // 2).std()
            * np.sqrt(cfg.sessions_per_year)
        ),
        "vix": lambda: c["vix"],
        "vix_chg_1m": lambda: change(c["vix"]),
        "yield_10y": lambda: c["yield_10y"],
        "yield_10y_chg_1m": lambda: change(c["yield_10y"]),
        "curve_10y_5y": lambda: c["yield_10y"] - c["yield_5y"],
        "credit_1m": lambda: log_ret(c["high_yield"]) - log_ret(c["investment_grade"]),
        **{f"{name}_ret_1m": _deferred(log_ret, c, name) for name in RETURN_SERIES},
        "copper_gold_1m": lambda: log_ret(c["copper"]) - log_ret(c["gold"]),
        "breakeven_1m": lambda: breakeven(log_ret, c),
    }
    return pd.DataFrame({k: values[k]() for k in context_columns(c.columns)}, index=p.dates)
