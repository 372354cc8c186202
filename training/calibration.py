"""From a model's raw output to a return forecast with an interval, written once.

The walk-forward measures exactly what the registered forecaster later serves, so both call
these: a rank score has no scale (z-score it per date, times a least-squares slope), the forecast
is shrunk toward zero by the measured skill, and the interval and P(outperform) come from
out-of-sample residuals divided by each row's expected error scale (volatility-scaled split
conformal): residual / (trailing 21-session volatility of the sector's daily relative returns x sqrt(horizon)).
Scaling makes the residuals exchangeable across calm and turbulent years, which plain residuals
are not (their coverage swung from ~56% in 2008 to 96% in calm years).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.volatility import relative_vol

# sessions of daily relative returns behind the error scale (feature rel_vol_21d). On the real dumps
# (2004-2018 test years) 21 sessions gave the most even yearly coverage: 63 and 126 react too late to
# a regime change (3M coverage 0.69 in 2007, 0.98 in 2009 with 63; 0.72 and 0.94 with 21).
SCALE_WINDOW = 21
SCALE_COLUMN = relative_vol(SCALE_WINDOW)
SESSIONS_PER_YEAR = 252  # the feature is annualised with this


def zscore_by_date(x: pd.Series, dates=None, fill: float | None = 0.0) -> pd.Series:
    """Cross-sectional z-score per date (`fill` where a date's values are all equal or missing;
    `fill=None` keeps those NaN, so an average over several z-scores can skip them).

    Groups by the index level `date`, or by `dates` (one key per row) when the index has none.
    """
    g = x.groupby(level="date") if dates is None else x.groupby(dates)
    z = (x - g.transform("mean")) / g.transform("std").replace(0.0, np.nan)
    return z if fill is None else z.fillna(fill)


def calibrate_slope(z: pd.Series, neutral_label: pd.Series) -> float:
    """Least-squares return per unit z-score (through the origin); 0 when there is nothing to fit."""
    ok = z.notna() & neutral_label.notna()
    denom = float((z[ok] ** 2).sum())
    return float((z[ok] * neutral_label[ok]).sum() / denom) if denom > 0 else 0.0


def error_scale(features: pd.DataFrame, sessions: int, dates=None) -> np.ndarray:
    """Per row: the expected size of a `sessions`-long relative-return error (daily rel. vol x sqrt(h)).

    A sector without the volatility yet (too short a history) takes its date's median; a date with
    none at all takes the overall median, so no row is left without an interval.
    """
    vol = pd.Series(features[SCALE_COLUMN].to_numpy(dtype="float64"), index=features.index)
    vol = vol.where(vol > 0)
    keys = features.index.get_level_values("date") if dates is None else dates
    vol = vol.fillna(vol.groupby(keys).transform("median"))
    fallback = float(vol.median()) if vol.notna().any() else 0.2
    daily = vol.fillna(fallback).to_numpy() / np.sqrt(SESSIONS_PER_YEAR)
    return daily * np.sqrt(sessions)


def conformal_band(pred, sorted_residuals: np.ndarray, coverage: float, scale=None):
    """(lower, upper, prob): a `coverage` interval for pred + scale * e and P(pred + scale * e > 0).

    `e` ranges over the (non-empty, ascending) out-of-sample residuals (label - pred) / scale; without
    `scale` they are plain residuals (models saved before scaling). The interval is the absolute-residual
    split conformal one, centred on the median residual: median +- the `coverage` quantile of |e - median|.
    One quantile from every residual is steadier than two tail quantiles from one side each (on the real
    dumps, the 3M walk-forward's worst year: 0.70 with separate 10%/90% quantiles, 0.71 with this).
    """
    pred = np.asarray(pred, dtype="float64")
    s = np.ones_like(pred) if scale is None else np.asarray(scale, dtype="float64")
    centre = float(np.median(sorted_residuals))
    half = float(np.quantile(np.abs(sorted_residuals - centre), coverage))
    lower = pred + (centre - half) * s
    upper = pred + (centre + half) * s
    prob = 1.0 - np.searchsorted(sorted_residuals, -pred / s, side="right") / sorted_residuals.size
    return lower, upper, prob


def skill_shrink(t_stat: float | None) -> float:
    """How much of a forecast to show: the positive-part James-Stein factor max(0, 1 - 1/t^2).

    `t` is the selection-honest (HAC) t-stat of the model's out-of-sample rank IC. No demonstrated
    skill (t <= 1, or negative) shows 0, i.e. the average relative return with the full interval;
    t = 2 keeps 75% and t = 3 keeps 89% of the forecast's spread.
    """
    if t_stat is None or not np.isfinite(t_stat) or t_stat <= 1.0:
        return 0.0
    return float(1.0 - 1.0 / t_stat**2)
