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
from training.calibration import SCALE_COLUMN, calibrate_slope, skill_shrink, zscore_by_date
from training.config import TrainConfig
from training.families import DIRECT, MACRO, MacroInputs, Stopwatch, fit_family, required_columns
from training.forecaster import HorizonModel, SectorForecaster
from training.labels import mean_relative_return, neutralise
from training.models import BASELINES, FitClock, fit_booster
from training.scoring import evaluate_scores
from training.selection import SELECTED, best_model
from training.walkforward import USABLE, WalkForward, run_walk_forward, sample_rows


@dataclass
class HorizonResult:
    walk_forward: WalkForward
    metrics: dict[str, dict]  # model name -> flat metrics (same names for every model); "selected" is honest
    series: dict[str, dict]
    chosen: str  # the model kept for serving: best rank IC over every walk-forward fold
    importance: pd.Series
    shrink: float = 0.0  # the share of the forecast shown (skill_shrink of the selection-honest t-stat)


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
        """The champion gate's figure: the selection-honest (nested walk-forward) metric."""
        hr = self.horizons[self.cfg.primary_horizon]
        return float(hr.metrics[SELECTED][self.cfg.primary_metric])

    def best_baseline(self) -> tuple[str, float]:
        """(name, metric) of the best baseline at the primary horizon, on the same dates."""
        hr = self.horizons[self.cfg.primary_horizon]
        key = self.cfg.primary_metric
        name = max(BASELINES, key=lambda b: np.nan_to_num(hr.metrics[b][key], nan=-np.inf))
        return name, float(hr.metrics[name][key])


def _forecast_columns(oos: pd.DataFrame, model: str) -> pd.DataFrame | None:
    cols = {k: f"{k}_{model}" for k in ("pred", "lower", "upper", "prob")}
    if cols["pred"] not in oos:
        return None
    return pd.DataFrame({k: oos[c] for k, c in cols.items() if c in oos})


MIN_INDEPENDENT_PERIODS = 20  # fewer non-overlapping label periods: too few to call skill real


def skill_card(metrics: dict, overlap: int) -> dict:
    """What the model card shows: the selection-honest out-of-sample rank IC with its interval, stated plainly.

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


def _final_fit(model: str, X: pd.DataFrame, y: pd.Series, ds: MarketDataset, cfg: TrainConfig, clock, watch, macro):
    """(booster or None, params) of `model` fitted on every labelled sample row."""
    if model.startswith("lgbm_"):
        return fit_booster(X, y, model.removeprefix("lgbm_"), cfg, clock), {}
    with watch:
        return None, fit_family(model, X, y, macro if model == MACRO else None, ds.panels.dates[-1], cfg)


def train(ds: MarketDataset, cfg: TrainConfig | None = None, progress=None) -> TrainResult:
    """The whole computation on `ds`; `progress()` is called after each walk-forward fold."""
    cfg = cfg or TrainConfig()
    t0 = time.perf_counter()
    p = ds.panels
    table = ds.features
    needed = [USABLE, SCALE_COLUMN, *(c for c in BASELINES.values() if c)]
    for fam in cfg.families:
        needed += required_columns(fam)
    require_columns(needed, table.columns, "training (baselines, model families, intervals)")
    labels = ds.labels(cfg.horizons)
    t_features = time.perf_counter() - t0
    clock, watch = FitClock(), Stopwatch()
    with watch:  # the macro model's daily inputs: built once a run, shared by every horizon and the final fit
        macro = MacroInputs.of(p) if MACRO in cfg.families else None
    results, hmodels, boosters = {}, {}, {}
    rows = sample_rows(table, p.dates, cfg.step)
    for name, h in cfg.horizons.items():
        label = labels[f"label_{name}"]
        wf = run_walk_forward(table, label, p.dates, name, cfg, clock, progress, p, watch, macro)
        if wf.oos.empty:
            raise DataError(
                f"not enough history for a walk-forward at {name}: need "
                f"{cfg.min_train_years}+ years of features before a test year"
            )
        models = list(wf.rank_ic)
        metrics, series = {}, {}
        vix = table.get("vix")  # coverage per VIX tercile
        for model in [*models, SELECTED, *BASELINES]:
            metrics[model], series[model] = evaluate_scores(
                wf.scores(model), ds, name, cfg, _forecast_columns(wf.oos, model), vix
            )
        chosen = best_model(wf.rank_ic, models) or models[0]
        metrics[SELECTED]["selection_agrees_with_kept"] = float(np.mean([m == chosen for m in wf.selection.values()]))
        # final model: every labelled sample row; calibration from every out-of-sample fold
        y = label.reindex(rows.index)
        ok = y.notna().to_numpy()
        booster, params = _final_fit(chosen, rows[ok][wf.feature_names], y[ok], ds, cfg, clock, watch, macro)
        oos = wf.oos
        direct = chosen in DIRECT
        slope = 1.0 if direct else calibrate_slope(zscore_by_date(oos[f"score_{chosen}"]), neutralise(oos["label"]))
        neutral = oos[f"score_{chosen}"] if direct else zscore_by_date(oos[f"score_{chosen}"]) * slope
        shrink = skill_shrink(metrics[SELECTED].get("rank_ic_t_stat"))
        residuals = ((oos["label"] - (shrink * neutral + oos["offset"])) / oos["scale"]).dropna().to_numpy()
        hmodels[name] = HorizonModel(
            sessions=h,
            kind=chosen.removeprefix("lgbm_"),
            booster_file=f"booster_{name}.txt" if booster is not None else "",
            offset=mean_relative_return(y[ok]),
            slope=slope,
            residuals=[float(r) for r in np.sort(residuals)],
            skill={**skill_card(metrics[SELECTED], cfg.overlap(name)), "model": chosen, "shrink": shrink},
            params=params,
            shrink=shrink,
            scaled=True,
        )
        if booster is not None:
            boosters[name] = booster
            importance = pd.Series(booster.feature_importance("gain"), index=wf.feature_names)
        else:
            importance = pd.Series(np.abs(params.get("coef", [])), index=params.get("columns", []), dtype="float64")
        results[name] = HorizonResult(wf, metrics, series, chosen, importance, shrink)
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
    timings = {
        "features_s": t_features,
        "train_and_evaluate_s": time.perf_counter() - t0,
        "other_families_fit_s": watch.seconds,
    }
    return TrainResult(ds, cfg, results, fc, boosters, clock, timings)
