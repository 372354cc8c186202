"""Data -> features -> labels -> purged walk-forward (models + baselines) -> final fit, in memory.

Logging to MLflow and the champion gate live in training/tracking.py; this module only computes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.dataset import MarketDataset
from features.errors import DataError
from features.registry import require_columns
from training.calibration import calibrate_slope, zscore_by_date
from training.config import TrainConfig
from training.forecaster import HorizonModel, SectorForecaster
from training.labels import mean_relative_return, neutralise
from training.models import BASELINES, FitClock, fit_booster
from training.scoring import evaluate_scores
from training.walkforward import USABLE, WalkForward, run_walk_forward, sample_rows


@dataclass
class HorizonResult:
    walk_forward: WalkForward
    metrics: dict[str, dict]  # model name -> flat metrics (same names for every model)
    series: dict[str, dict]
    chosen: str  # "lgbm_regression" or "lgbm_rank"
    importance: pd.Series


@dataclass
class TrainResult:
    dataset: MarketDataset
    cfg: TrainConfig
    horizons: dict[str, HorizonResult]
    forecaster: SectorForecaster
    boosters: dict
    clock: FitClock
    timings: dict = field(default_factory=dict)

    def primary_metric(self) -> float:
        hr = self.horizons[self.cfg.primary_horizon]
        return float(hr.metrics[hr.chosen][self.cfg.primary_metric])


def _forecast_columns(oos: pd.DataFrame, model: str) -> pd.DataFrame | None:
    cols = {k: f"{k}_{model}" for k in ("pred", "lower", "upper", "prob")}
    if cols["pred"] not in oos:
        return None
    return pd.DataFrame({k: oos[c] for k, c in cols.items() if c in oos})


MIN_INDEPENDENT_PERIODS = 20  # fewer non-overlapping label periods: too few to call skill real


def skill_card(metrics: dict, overlap: int) -> dict:
    """What the model card shows: the out-of-sample rank IC with its interval, stated plainly.

    Skill counts as significant only when the interval's lower end is above zero AND the test
    covered enough non-overlapping label periods: a block bootstrap over two or three years of
    overlapping 3M labels is far too narrow to be trusted.
    """
    lo, hi = metrics.get("rank_ic_ci_low", np.nan), metrics.get("rank_ic_ci_high", np.nan)
    independent = float(metrics.get("n_dates", 0.0)) / max(overlap, 1)
    return {
        "rank_ic_mean": metrics.get("rank_ic_mean"),
        "rank_ic_ci_low": lo,
        "rank_ic_ci_high": hi,
        "t_stat": metrics.get("rank_ic_t_stat"),
        "spread_mean": metrics.get("spread_mean"),
        "interval_coverage": metrics.get("interval_coverage"),
        "n_dates": metrics.get("n_dates"),
        "independent_periods": independent,
        "significant": bool(np.isfinite(lo) and lo > 0 and independent >= MIN_INDEPENDENT_PERIODS),
    }


def train(ds: MarketDataset, cfg: TrainConfig | None = None, progress=None) -> TrainResult:
    """The whole computation on `ds`; `progress()` is called after each walk-forward fold."""
    cfg = cfg or TrainConfig()
    t0 = time.perf_counter()
    p = ds.panels
    table = ds.features
    require_columns([USABLE, *(c for c in BASELINES.values() if c)], table.columns, "training (baselines)")
    labels = ds.labels(cfg.horizons)
    t_features = time.perf_counter() - t0
    clock = FitClock()
    results, hmodels, boosters = {}, {}, {}
    rows = sample_rows(table, p.dates, cfg.step)
    for name, h in cfg.horizons.items():
        label = labels[f"label_{name}"]
        wf = run_walk_forward(table, label, p.dates, name, cfg, clock, progress)
        if wf.oos.empty:
            raise DataError(
                f"not enough history for a walk-forward at {name}: need "
                f"{cfg.min_train_years}+ years of features before a test year"
            )
        metrics, series = {}, {}
        for model in [*(f"lgbm_{k}" for k in cfg.objectives), *BASELINES]:
            metrics[model], series[model] = evaluate_scores(
                wf.scores(model), ds, name, cfg, _forecast_columns(wf.oos, model)
            )
        chosen = max(
            (f"lgbm_{k}" for k in cfg.objectives), key=lambda m: np.nan_to_num(metrics[m]["rank_ic_mean"], nan=-np.inf)
        )
        kind = chosen.removeprefix("lgbm_")
        # final model: every labelled sample row; calibration from all out-of-sample folds
        y = label.reindex(rows.index)
        ok = y.notna().to_numpy()
        booster = fit_booster(rows[ok][wf.feature_names], y[ok], kind, cfg, clock)
        oos = wf.oos
        slope = (
            calibrate_slope(zscore_by_date(oos[f"score_{chosen}"]), neutralise(oos["label"])) if kind == "rank" else 1.0
        )
        residuals = np.sort((oos["label"] - oos[f"pred_{chosen}"]).dropna().to_numpy())
        hmodels[name] = HorizonModel(
            sessions=h,
            kind=kind,
            booster_file=f"booster_{name}.txt",
            offset=mean_relative_return(y[ok]),
            slope=slope,
            residuals=[float(r) for r in residuals],
            skill=skill_card(metrics[chosen], cfg.overlap(name)),
        )
        boosters[name] = booster
        importance = pd.Series(booster.feature_importance("gain"), index=wf.feature_names)
        results[name] = HorizonResult(wf, metrics, series, chosen, importance)
    trained_rows = rows.index.get_level_values("date")
    window = (trained_rows.min().date().isoformat(), trained_rows.max().date().isoformat())
    fc = SectorForecaster(
        feature_names=list(table.columns),
        horizons=hmodels,
        training_window=window,
        coverage=cfg.coverage,
        info={"universe": ds.universe.name, "data_source": ds.source.label, "synthetic": ds.source.synthetic},
    )
    fc._boosters = boosters
    timings = {"features_s": t_features, "train_and_evaluate_s": time.perf_counter() - t0}
    return TrainResult(ds, cfg, results, fc, boosters, clock, timings)
