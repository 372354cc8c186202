"""Run one horizon through the purged walk-forward: every model and baseline on the same folds.

Out-of-sample rows carry, per model, a score and (for LightGBM) a return forecast whose
interval and slope come only from EARLIER folds' out-of-sample residuals whose labels had ended
before the test year began (purged like the training rows), so coverage and calibration are
measured honestly too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.momentum import rel_return
from training.calibration import calibrate_slope, conformal_band, zscore_by_date
from training.config import TrainConfig
from training.folds import Fold, walk_forward_folds
from training.labels import mean_relative_return, neutralise
from training.models import BASELINES, FitClock, baseline_scores, fit_booster

USABLE = rel_return("12M")  # a row is used once its sector has a year of history
MIN_TRAIN_ROWS = 50  # a fold with fewer labelled training rows is skipped


@dataclass
class WalkForward:
    horizon: str
    folds: list[Fold]
    oos: pd.DataFrame  # (date, sector): label, score_<model>, pred/lower/upper_<lgbm kind>
    feature_names: list[str]

    def scores(self, model: str) -> pd.DataFrame:
        return self.oos[[f"score_{model}", "label"]].rename(columns={f"score_{model}": "score"})


def sample_rows(table: pd.DataFrame, dates: pd.DatetimeIndex, step: int) -> pd.DataFrame:
    """Rows on every `step`-th session (weekly by default) with a year of history."""
    grid = dates[::step]
    rows = table[table.index.get_level_values("date").isin(grid)]
    return rows[rows[USABLE].notna()]


def known_by(frames: list, cutoff: pd.Timestamp):
    """Rows of earlier folds' outputs dated <= cutoff (their labels have ended), concatenated; None if none."""
    kept = [f[f.index.get_level_values("date") <= cutoff] for f in frames]
    kept = [f for f in kept if len(f)]
    return pd.concat(kept) if kept else None


def run_walk_forward(
    table: pd.DataFrame,
    label: pd.Series,
    dates: pd.DatetimeIndex,
    horizon: str,
    cfg: TrainConfig,
    clock: FitClock | None = None,
    progress=None,
) -> WalkForward:
    h = cfg.horizons[horizon]
    rows = sample_rows(table, dates, cfg.step)
    features = list(table.columns)
    y = label.reindex(rows.index)
    labelled = y.notna().to_numpy()
    first_usable = rows.index.get_level_values("date").min()
    folds = walk_forward_folds(dates, h, cfg.first_test_year, cfg.min_train_years, first_usable, cfg.embargo)
    row_dates = rows.index.get_level_values("date")
    pieces = []
    residuals: dict[str, list[pd.Series]] = {k: [] for k in cfg.objectives}
    calib: dict[str, list[pd.DataFrame]] = {k: [] for k in cfg.objectives}
    for fold in folds:
        train = (row_dates <= fold.train_end) & labelled
        test = (row_dates >= fold.test_start) & (row_dates <= fold.test_end) & labelled
        if not test.any() or train.sum() < MIN_TRAIN_ROWS:
            continue
        Xtr, ytr, Xte = rows[train], y[train], rows[test]
        out = pd.DataFrame({"label": y[test]}, index=Xte.index)
        offset = mean_relative_return(ytr)
        for name in BASELINES:
            out[f"score_{name}"] = baseline_scores(Xte, name)
        for kind in cfg.objectives:
            booster = fit_booster(Xtr[features], ytr, kind, cfg, clock)
            score = pd.Series(booster.predict(Xte[features].to_numpy(dtype="float32")), index=Xte.index)
            out[f"score_lgbm_{kind}"] = score
            if kind == "rank":  # slope from earlier folds only; no view before there is any
                past = known_by(calib[kind], fold.train_end)
                slope = calibrate_slope(past["z"], past["neutral"]) if past is not None else np.nan
                z = zscore_by_date(score)
                calib[kind].append(pd.DataFrame({"z": z, "neutral": neutralise(out["label"])}))
                neutral_pred = z * slope
            else:
                neutral_pred = score
            pred = neutral_pred + offset
            out[f"pred_lgbm_{kind}"] = pred
            known = known_by(residuals[kind], fold.train_end)
            if known is not None:
                lower, upper, prob = conformal_band(pred, np.sort(known.to_numpy()), cfg.coverage)
                out[f"lower_lgbm_{kind}"], out[f"upper_lgbm_{kind}"], out[f"prob_lgbm_{kind}"] = lower, upper, prob
            residuals[kind].append((out["label"] - pred).dropna())
        pieces.append(out)
        if progress is not None:
            progress()
    oos = pd.concat(pieces) if pieces else pd.DataFrame()
    return WalkForward(horizon, folds, oos, features)
