"""Momentum: relative strength vs the benchmark over several windows, 12-1, trend, RRG coordinates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.sectors import SectorPanels

MOM_12_1 = "mom_12_1"
RS_RATIO = "rs_ratio"
RS_MOMENTUM = "rs_momentum"
HIGH_52W = "high_52w_prox"  # close / highest close of the last year - 1 (George & Hwang, 2004)


def rel_return(window: str) -> str:
    """Column of the log relative return over a named window (e.g. '3M' -> rel_ret_3m)."""
    return f"rel_ret_{window.lower()}"


def trend(window: int) -> str:
    """Column of the distance from the `window`-session average."""
    return f"trend_sma{window}"


def momentum_columns(cfg: FeatureConfig) -> list[str]:
    return [
        *(rel_return(n) for n in cfg.return_windows),
        MOM_12_1,
        *(trend(w) for w in cfg.trend_windows),
        RS_RATIO,
        RS_MOMENTUM,
        HIGH_52W,
    ]


def log_relative_price(p: SectorPanels) -> pd.DataFrame:
    """log(sector) - log(benchmark): its differences are log relative returns."""
    return np.log(p.close).sub(np.log(p.benchmark["close"]), axis=0)


def relative_total_return(close: pd.DataFrame, bench_close: pd.Series, window: int) -> pd.DataFrame:
    """Sector total return minus benchmark total return over `window` sessions (simple, as the matrix spec)."""
    sector = close / close.shift(window) - 1.0
    bench = bench_close / bench_close.shift(window) - 1.0
    return sector.sub(bench, axis=0)


def _rolling_z(x: pd.DataFrame, window: int) -> pd.DataFrame:
    mean = x.rolling(window, min_periods=window // 2).mean()
    std = x.rolling(window, min_periods=window // 2).std()
    return (x - mean) / std.where(std > 0)


def momentum_features(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    rel = log_relative_price(p)
    out = {rel_return(name): rel - rel.shift(w) for name, w in cfg.return_windows.items()}
    out[MOM_12_1] = rel.shift(cfg.skip_recent) - rel.shift(cfg.return_windows.get("12M", cfg.sessions_per_year))
    for w in cfg.trend_windows:
        out[trend(w)] = p.close / p.close.rolling(w, min_periods=w).mean() - 1.0
    # RRG in spirit: RS-ratio = trend of relative strength, RS-momentum = its rate of change;
    # both z-scored over a trailing window so no value depends on data after its date.
    rs = np.exp(rel)
    ratio = rs / rs.rolling(cfg.rrg_smooth, min_periods=cfg.rrg_smooth).mean()
    rs_ratio = 100.0 + 10.0 * _rolling_z(ratio, cfg.rrg_norm)
    roc = rs_ratio / rs_ratio.shift(cfg.rrg_momentum_lag) - 1.0
    out[RS_RATIO] = rs_ratio
    out[RS_MOMENTUM] = 100.0 + 10.0 * _rolling_z(roc, cfg.rrg_norm)
    year = cfg.return_windows.get("12M", cfg.sessions_per_year)
    out[HIGH_52W] = p.close / p.close.rolling(year, min_periods=year * 2 // 3).max() - 1.0
    return out
