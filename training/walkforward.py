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

from training.config import TrainConfig
from training.folds import Fold, walk_forward_folds
from training.labels import neutralise
from training.models import BASELINES, FitClock, baseline_scores, fit_booster

USABLE = "rel_ret_12m"  # a row is used once its sector has a year of history


@dataclass
class WalkForward:
    horizon: str
    sessions: int
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


def zscore_by_date(x: pd.Series) -> pd.Series:
    g = x.groupby(level="date")
    return ((x - g.transform("mean")) / g.transform("std").replace(0.0, np.nan)).fillna(0.0)


def calibrate_slope(z: pd.Series, neutral_label: pd.Series) -> float:
    """Least-squares return per unit z-score (through the origin); 0 when there is nothing to fit."""
    ok = z.notna() & neutral_label.notna()
    denom = float((z[ok] ** 2).sum())
    return float((z[ok] * neutral_label[ok]).sum() / denom) if denom > 0 else 0.0


def known_by(frames: list, cutoff: pd.Timestamp):
    """Rows of earlier folds' outputs dated <= cutoff (their labels have ended), concatenated; None if none."""
    kept = [f[f.index.get_level_values("date") <= cutoff] for f in frames]
    kept = [f for f in kept if len(f)]
    return pd.concat(kept) if kept else None


def run_walk_forward(
    table: pd.DataFrame, label: pd.Series, dates: pd.DatetimeIndex, horizon: str, cfg: TrainConfig,
    clock: FitClock | None = None, progress=None,
) -> WalkForward:
    h = cfg.horizons[horizon]
    rows = sample_rows(table, dates, cfg.step)
    features = [c for c in table.columns]
    y = label.reindex(rows.index)
    first_usable = rows.index.get_level_values("date").min()
    folds = walk_forward_folds(dates, h, cfg.first_test_year, cfg.min_train_years, first_usable, cfg.embargo)
    row_dates = rows.index.get_level_values("date")
    pieces = []
    residuals: dict[str, list[pd.Series]] = {k: [] for k in cfg.objectives}
    calib: dict[str, list[pd.DataFrame]] = {k: [] for k in cfg.objectives}
    lo_q, hi_q = (1 - cfg.coverage) / 2, (1 + cfg.coverage) / 2
    for fold in folds:
        train = (row_dates <= fold.train_end) & y.notna().to_numpy()
        test = (row_dates >= fold.test_start) & (row_dates <= fold.test_end) & y.notna().to_numpy()
        if not test.any() or train.sum() < 50:
            continue
        Xtr, ytr, Xte = rows[train], y[train], rows[test]
        out = pd.DataFrame({"label": y[test]}, index=Xte.index)
        offset = float(ytr.groupby(level="date").mean().mean())
        for name in BASELINES:
            out[f"score_{name}"] = baseline_scores(Xte, name)
        for kind in cfg.objectives:
            booster = fit_booster(Xtr[features], ytr, kind, cfg, clock)
            score = pd.Series(booster.predict(Xte[features].to_numpy(dtype="float32")), index=Xte.index)
            out[f"score_lgbm_{kind}"] = score
            if kind == "rank":  # slope from earlier folds only; no view before there is any
                past = known_by(calib[kind], fold.train_end)
                slope = calibrate_slope(past["z"], past["neutral"]) if past is not None else np.nan
                calib[kind].append(pd.DataFrame({"z": zscore_by_date(score), "neutral": neutralise(out["label"])}))
                neutral_pred = zscore_by_date(score) * slope
            else:
                neutral_pred = score
            pred = neutral_pred + offset
            out[f"pred_lgbm_{kind}"] = pred
            known = known_by(residuals[kind], fold.train_end)
            past_res = known.to_numpy() if known is not None else np.empty(0)
            if past_res.size:
                out[f"lower_lgbm_{kind}"] = pred + np.quantile(past_res, lo_q)
                out[f"upper_lgbm_{kind}"] = pred + np.quantile(past_res, hi_q)
                out[f"prob_lgbm_{kind}"] = 1.0 - np.searchsorted(np.sort(past_res), -pred.to_numpy(), side="right") / past_res.size
            residuals[kind].append((out["label"] - pred).dropna())
        pieces.append(out)
        if progress is not None:
            progress()
    oos = pd.concat(pieces) if pieces else pd.DataFrame()
    return WalkForward(horizon, h, folds, oos, features)
