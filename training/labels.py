"""Training targets from the labels (features.labels): neutralised per date, graded for lambdarank."""

from __future__ import annotations

import numpy as np
import pandas as pd


def neutralise(values: pd.Series) -> pd.Series:
    """Subtract each date's cross-sectional mean: the model learns who beats the others."""
    return values - values.groupby(level="date").transform("mean")


def mean_relative_return(label: pd.Series) -> float:
    """Mean over dates of the cross-sectional mean label: what `neutralise` takes out, forecasts add back."""
    return float(label.groupby(level="date").mean().mean())


def rank_grades(values: pd.Series, grades: int) -> pd.Series:
    """Integer relevance 0..grades-1 from per-date percentiles (what lambdarank needs)."""
    pct = values.groupby(level="date").rank(pct=True)
    return np.floor(pct * grades - 1e-9).clip(lower=0, upper=grades - 1)
