"""Nested walk-forward selection: the model kept for a test year is the one with the best rank IC
on EARLIER test years only (rows whose labels had ended before that year's training cut).

The out-of-sample rows of the chosen models, year by year, form the `selected` series: its metrics
are what the selection procedure would really have delivered, so picking the best of several
families on the whole sample (which flatters it) never feeds the model card or the champion gate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SELECTED = "selected"
FORECAST_KEYS = ("score", "neutral", "pred", "lower", "upper", "prob")


def best_model(rank_ic: dict[str, pd.Series], models: list[str], cutoff: pd.Timestamp | None = None) -> str | None:
    """The model with the highest mean rank IC on dates <= cutoff (all dates if None); ties go to the first."""
    means = {}
    for m in models:
        ic = rank_ic.get(m, pd.Series(dtype="float64"))
        ic = ic[ic.index <= cutoff] if cutoff is not None else ic
        if len(ic):
            means[m] = float(ic.mean())
    if not means:
        return None
    return max(models, key=lambda m: means.get(m, -np.inf))


def select_nested(wf, models: list[str]) -> None:
    """Fill wf.selection (test year -> model) and the `*_selected` columns of wf.oos, in place.

    The first test year has no earlier one: it takes the first model (LightGBM), fixed in advance."""
    oos = wf.oos
    cols = {k: np.full(len(oos), np.nan) for k in FORECAST_KEYS}
    chosen = np.empty(len(oos), dtype=object)
    for fold in wf.folds:
        at = (oos["fold"] == fold.test_year).to_numpy()
        if not at.any():
            continue
        model = best_model(wf.rank_ic, models, fold.train_end) or models[0]
        wf.selection[fold.test_year] = model
        chosen[at] = model
        for k in FORECAST_KEYS:
            if f"{k}_{model}" in oos:
                cols[k][at] = oos.loc[at, f"{k}_{model}"].to_numpy()
    for k, v in cols.items():
        oos[f"{k}_{SELECTED}"] = v
    oos[f"model_{SELECTED}"] = chosen
