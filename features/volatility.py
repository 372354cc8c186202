"""Volatility: realised and downside volatility, ATR % (TA-Lib) and beta to the benchmark."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.indicators import per_sector
from features.sectors import SectorPanels

ANNUAL = 252


def daily_log_returns(close: pd.DataFrame | pd.Series):
    return np.log(close).diff()


def volatility_features(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    r = daily_log_returns(p.close)
    rb = daily_log_returns(p.benchmark["close"])
    out = {
        f"vol_{w}d": r.rolling(w, min_periods=w * 2 // 3).std() * np.sqrt(ANNUAL)
        for w in cfg.volatility_windows
    }
    mid = cfg.volatility_windows[len(cfg.volatility_windows) // 2]
    down = r.clip(upper=0.0) ** 2
    out[f"downside_vol_{mid}d"] = np.sqrt(down.rolling(mid, min_periods=mid * 2 // 3).mean() * ANNUAL)
    out["atr_pct"] = per_sector(p, "NATR", cfg.indicator_period) / 100.0
    w = cfg.beta_window
    cov = r.rolling(w, min_periods=w * 2 // 3).cov(rb)
    var = rb.rolling(w, min_periods=w * 2 // 3).var()
    out[f"beta_{w}d"] = cov.div(var.where(var > 0), axis=0)
    return out
