"""Volume: participation growth, volume relative to the benchmark's, money flow and market-implied
sentiment (TA-Lib)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.indicators import per_sector
from features.sectors import SectorPanels

VOLUME_GROWTH_1W = "volume_growth_1w"
VOLUME_GROWTH_1M = "volume_growth_1m"
RELATIVE_VOLUME = "relative_volume"
ADOSC_NORM = "adosc_norm"
RSI = "rsi"
MFI = "mfi"
SENTIMENT_SCORE = "sentiment_score"


def updown_volume(window: int) -> str:
    return f"updown_volume_{window}d"


def volume_columns(cfg: FeatureConfig) -> list[str]:
    return [VOLUME_GROWTH_1W, VOLUME_GROWTH_1M, RELATIVE_VOLUME, ADOSC_NORM]


def sentiment_columns(cfg: FeatureConfig) -> list[str]:
    return [updown_volume(cfg.updown_window), RSI, MFI, SENTIMENT_SCORE]


def _log_ratio(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    return np.log(a.where(a > 0) / b.where(b > 0))


def volume_growth(volume: pd.DataFrame, short: int, long: int) -> pd.DataFrame:
    """log(short average volume / long average volume): > 0 means participation is rising."""
    return _log_ratio(volume.rolling(short, min_periods=1).mean(), volume.rolling(long, min_periods=long // 2).mean())


def volume_features(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    s, l = cfg.volume_short, cfg.volume_long
    ms, ml = cfg.volume_month_windows
    share = p.volume.div(p.benchmark["volume"].where(p.benchmark["volume"] > 0), axis=0)
    out = {
        VOLUME_GROWTH_1W: volume_growth(p.volume, s, l),
        VOLUME_GROWTH_1M: volume_growth(p.volume, ms, ml),
        # sector volume as a share of the benchmark's, vs its own norm: money rotating in or out
        RELATIVE_VOLUME: _log_ratio(
            share.rolling(s, min_periods=1).mean(), share.rolling(l, min_periods=l // 2).mean()
        ),
    }
    adosc = per_sector(p, "ADOSC", *cfg.adosc_periods)
    w, least = cfg.adosc_norm_window
    out[ADOSC_NORM] = adosc / p.volume.rolling(w, min_periods=least).mean().where(lambda v: v > 0)
    return out


def sentiment_features(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    """Market-implied sentiment: who is winning, buyers or sellers (text sentiment comes later)."""
    up = p.close.diff() > 0
    down = p.close.diff() < 0
    w = cfg.updown_window
    up_vol = p.volume.where(up, 0.0).rolling(w, min_periods=w // 2).sum()
    down_vol = p.volume.where(down, 0.0).rolling(w, min_periods=w // 2).sum()
    rsi = per_sector(p, "RSI", cfg.indicator_period)
    mfi = per_sector(p, "MFI", cfg.indicator_period)
    updown = np.log((up_vol + 1.0) / (down_vol + 1.0))
    # one 0..1 score for the heatmap column: the mean of RSI and money-flow index (each 0..100), rescaled
    return {updown_volume(w): updown, RSI: rsi, MFI: mfi, SENTIMENT_SCORE: (rsi + mfi) / 200.0}
