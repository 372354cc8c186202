"""Labels: forward log return of each sector minus the benchmark's, over each horizon.

The label on date t uses closes t .. t+h, so it exists only once t+h has traded; the walk-forward
purges training rows whose label window reaches into a test period.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.momentum import log_relative_price
from features.sectors import SectorPanels


def forward_relative_returns(p: SectorPanels, horizon: int) -> pd.DataFrame:
    """(date x sector) forward log relative return over `horizon` sessions; NaN at the end."""
    rel = log_relative_price(p)
    return rel.shift(-horizon) - rel


def stack_labels(p: SectorPanels, horizons: dict[str, int]) -> pd.DataFrame:
    """Labels for every horizon as columns `label_<H>`, indexed (date, sector)."""
    cols = {}
    for name, h in horizons.items():
        cols[f"label_{name}"] = forward_relative_returns(p, h).stack(future_stack=True)
    out = pd.DataFrame(cols)
    out.index.names = ["date", "sector"]
    return out


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
