"""From a model's raw output to a return forecast with an interval, written once.

The walk-forward measures exactly what the registered forecaster later serves, so both call
these: a rank score has no scale (z-score it per date, times a least-squares slope), and the
interval and P(outperform) come from out-of-sample residuals (split conformal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def zscore_by_date(x: pd.Series, dates=None) -> pd.Series:
    """Cross-sectional z-score per date (0 where a date's values are all equal).

    Groups by the index level `date`, or by `dates` (one key per row) when the index has none.
    """
    g = x.groupby(level="date") if dates is None else x.groupby(dates)
    return ((x - g.transform("mean")) / g.transform("std").replace(0.0, np.nan)).fillna(0.0)


def calibrate_slope(z: pd.Series, neutral_label: pd.Series) -> float:
    """Least-squares return per unit z-score (through the origin); 0 when there is nothing to fit."""
    ok = z.notna() & neutral_label.notna()
    denom = float((z[ok] ** 2).sum())
    return float((z[ok] * neutral_label[ok]).sum() / denom) if denom > 0 else 0.0


def conformal_band(pred, sorted_residuals: np.ndarray, coverage: float):
    """(lower, upper, prob): the central `coverage` interval of pred + e and P(pred + e > 0).

    `e` ranges over the (non-empty, ascending) out-of-sample residuals label - pred.
    """
    pred = np.asarray(pred)
    lo_q, hi_q = (1 - coverage) / 2, (1 + coverage) / 2
    lower = pred + np.quantile(sorted_residuals, lo_q)
    upper = pred + np.quantile(sorted_residuals, hi_q)
    prob = 1.0 - np.searchsorted(sorted_residuals, -pred, side="right") / sorted_residuals.size
    return lower, upper, prob
