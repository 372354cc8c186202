"""Volume: participation growth, volume relative to the benchmark's, and money flow (TA-Lib)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.indicators import per_sector
from features.sectors import SectorPanels


def _log_ratio(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    return np.log(a.where(a > 0) / b.where(b > 0))


def volume_growth(volume: pd.DataFrame, short: int, long: int) -> pd.DataFrame:
    """log(short average volume / long average volume): > 0 means participation is rising."""
    return _log_ratio(volume.rolling(short, min_periods=1).mean(), volume.rolling(long, min_periods=long // 2).mean())


def volume_features(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    s, l = cfg.volume_short, cfg.volume_long
    share = p.volume.div(p.benchmark["volume"].where(p.benchmark["volume"] > 0), axis=0)
    out = {
        "volume_growth_1w": volume_growth(p.volume, s, l),
        "volume_growth_1m": volume_growth(p.volume, 21, 126),
        # sector volume as a share of the benchmark's, vs its own norm: money rotating in or out
        "relative_volume": _log_ratio(share.rolling(s, min_periods=1).mean(), share.rolling(l, min_periods=l // 2).mean()),
    }
    adosc = per_sector(p, "ADOSC", 3, 10)
    out["adosc_norm"] = adosc / p.volume.rolling(21, min_periods=5).mean().where(lambda v: v > 0)
    return out


def sentiment_features(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    """Market-implied sentiment: who is winning, buyers or sellers (text sentiment comes later)."""
    up = p.close.diff() > 0
    down = p.close.diff() < 0
    w = 21
    up_vol = p.volume.where(up, 0.0).rolling(w, min_periods=w // 2).sum()
    down_vol = p.volume.where(down, 0.0).rolling(w, min_periods=w // 2).sum()
    rsi = per_sector(p, "RSI", cfg.indicator_period)
    mfi = per_sector(p, "MFI", cfg.indicator_period)
    updown = np.log((up_vol + 1.0) / (down_vol + 1.0))
    # one 0..1 score for the heatmap column: the mean of RSI and money-flow index, rescaled
    return {"updown_volume_21d": updown, "rsi": rsi, "mfi": mfi, "sentiment_score": (rsi + mfi) / 200.0}
