"""Market context shared by every sector on a date: volatility, rates, credit, dollar, commodities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.sectors import SectorPanels
from features.volatility import daily_log_returns

RETURN_SERIES = ("long_treasury", "dollar", "oil", "gold")  # context series shown as a 1M log return


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
    return cols


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
    }
    return pd.DataFrame({k: values[k]() for k in context_columns(c.columns)}, index=p.dates)
