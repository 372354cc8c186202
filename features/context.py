"""Market context shared by every sector on a date: volatility, rates, credit, dollar, commodities."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.sectors import SectorPanels
from features.volatility import ANNUAL, daily_log_returns

MONTH = 21


def _change(x: pd.Series, w: int = MONTH) -> pd.Series:
    return x - x.shift(w)


def _log_ret(x: pd.Series, w: int = MONTH) -> pd.Series:
    return np.log(x.where(x > 0)).diff(w)


def context_features(p: SectorPanels) -> pd.DataFrame:
    """One row per date; only series present in the data contribute (each is optional)."""
    c = p.context
    out = {
        "mkt_ret_1m": _log_ret(p.benchmark["close"]),
        "mkt_vol_1m": daily_log_returns(p.benchmark["close"]).rolling(MONTH, min_periods=10).std() * np.sqrt(ANNUAL),
    }
    if "vix" in c:
        out["vix"] = c["vix"]
        out["vix_chg_1m"] = _change(c["vix"])
    if "yield_10y" in c:
        out["yield_10y"] = c["yield_10y"]
        out["yield_10y_chg_1m"] = _change(c["yield_10y"])
        if "yield_5y" in c:
            out["curve_10y_5y"] = c["yield_10y"] - c["yield_5y"]
    if {"high_yield", "investment_grade"} <= set(c):
        out["credit_1m"] = _log_ret(c["high_yield"]) - _log_ret(c["investment_grade"])
    for name in ("long_treasury", "dollar", "oil", "gold"):
        if name in c:
            out[f"{name}_ret_1m"] = _log_ret(c[name])
    if {"copper", "gold"} <= set(c):
        out["copper_gold_1m"] = _log_ret(c["copper"]) - _log_ret(c["gold"])
    return pd.DataFrame(out, index=p.dates)
