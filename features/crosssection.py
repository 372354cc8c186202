"""The one definition of a cross-sectional percentile: where a sector stands among the sectors
present that date (average rank, ties share it, missing values stay missing).

Two scalings of the same rank are in use, both here: r/n (feature ranks; the registered models
were trained on it, so changing it means retraining) and (r-1)/(n-1) (the health score, so the
weakest sector is exactly 0 and the strongest exactly 1; a lone sector sits at 0.5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def xs_percentile(values: pd.DataFrame, axis: int = 1, zero_based: bool = True) -> pd.DataFrame:
    """Percentile of each value among the others along `axis` (1: across columns within a row)."""
    ranks = values.rank(axis=axis, method="average")
    n = values.notna().sum(axis=axis)
    other = 0 if axis == 1 else 1
    if not zero_based:
        return ranks.div(n, axis=other)
    spread = (ranks - 1.0).div((n - 1).where(n > 1), axis=other)
    lone = (n == 1).to_numpy()
    if lone.any():
        filled = spread.to_numpy(copy=True)
        mask = values.notna().to_numpy() & (lone[:, None] if axis == 1 else lone[None, :])
        filled[mask] = 0.5
        spread = pd.DataFrame(filled, index=values.index, columns=values.columns)
    return spread.astype("float64").where(values.notna(), np.nan)
