"""Volatility: realised and downside volatility, ATR % (TA-Lib) and beta to the benchmark."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.indicators import per_sector
from features.sectors import SectorPanels

ATR_PCT = "atr_pct"


def realised_vol(window: int) -> str:
    return f"vol_{window}d"


def downside_vol(window: int) -> str:
    return f"downside_vol_{window}d"


def beta(window: int) -> str:
    return f"beta_{window}d"


def relative_vol(window: int) -> str:
    """Annualised volatility of daily log returns relative to the benchmark (tracking volatility)."""
    return f"rel_vol_{window}d"


def _mid_window(cfg: FeatureConfig) -> int:
    """The middle volatility window: the one downside volatility uses."""
    return cfg.volatility_windows[len(cfg.volatility_windows) // 2]


def volatility_columns(cfg: FeatureConfig) -> list[str]:
    return [
        *(realised_vol(w) for w in cfg.volatility_windows),
        downside_vol(_mid_window(cfg)),
        ATR_PCT,
        beta(cfg.beta_window),
        relative_vol(cfg.volatility_windows[0]),
    ]


def daily_log_returns(close: pd.DataFrame | pd.Series):
    return np.log(close).diff()


def volatility_features(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    r = daily_log_returns(p.close)
    rb = daily_log_returns(p.benchmark["close"])
    annual = cfg.sessions_per_year
    out = {
        realised_vol(w): r.rolling(w, min_periods=w * 2 // 3).std() * np.sqrt(annual) for w in cfg.volatility_windows
    }
    mid = _mid_window(cfg)
    down = r.clip(upper=0.0) ** 2
    out[downside_vol(mid)] = np.sqrt(down.rolling(mid, min_periods=mid * 2 // 3).mean() * annual)
    out[ATR_PCT] = per_sector(p, "NATR", cfg.indicator_period) / 100.0
    w = cfg.beta_window
    cov = r.rolling(w, min_periods=w * 2 // 3).cov(rb)
    var = rb.rolling(w, min_periods=w * 2 // 3).var()
    out[beta(w)] = cov.div(var.where(var > 0), axis=0)
    # the scale of relative-return forecast errors (training's volatility-scaled intervals use it); the
    # shortest window: it reacts fastest to a regime change, which kept yearly coverage most even
    short = cfg.volatility_windows[0]
    rel = r.sub(rb, axis=0)
    out[relative_vol(short)] = rel.rolling(short, min_periods=short * 2 // 3).std() * np.sqrt(annual)
    return out
