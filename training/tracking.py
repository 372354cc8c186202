"""Log a TrainResult to MLflow (one parent run, a nested run per horizon and model), register the
forecaster, and run the champion gate last so a failure anywhere leaves the champion alone."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from features.dataset import MarketDataset
from training.config import TrainConfig
from training.registry import GateDecision, champion_gate, registered_name
from training.selection import SELECTED
from training.store import open_store, process_tags, store_lock
from training.train import TrainResult
from training.unseen import UnseenScores

PIP_REQUIREMENTS = ["lightgbm", "pandas", "numpy"]  # explicit: inference would spawn a slow subprocess


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def clean_metrics(metrics: dict) -> dict:
    """Finite floats only: MLflow rejects None and NaN would hide in the UI."""
    return {k: float(v) for k, v in metrics.items() if v is not None and pd.notna(v)}


def log_series(series: dict) -> None:
    """Time series as stepped MLflow metrics of the active run, so the UI charts them: the rank IC's
    52-week rolling mean (step = days since 1970, every 4th week) and interval coverage per year
    (step = year). One batch call per 1,000 points: a call per point would cost seconds per run."""
    import time

    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    points = []
    ric = series.get("rank_ic")
    if ric is not None and len(ric):
        rolling = ric.rolling(52, min_periods=12).mean().dropna().iloc[::4]
        points += [
            Metric("rank_ic_rolling_52w", float(v), now, int(pd.Timestamp(d).value // 86_400_000_000_000))
            for d, v in rolling.items()
        ]
    by_year = series.get("coverage_by_year")
    if by_year is not None:
        points += [Metric("coverage_by_year", float(v), now, int(y)) for y, v in by_year.items()]
    run_id = mlflow.active_run().info.run_id  # type: ignore[union-attr]
    for i in range(0, len(points), 1000):
        mlflow.MlflowClient().log_batch(run_id, metrics=points[i : i + 1000])


def primary_key(result: TrainResult) -> str:
    return f"{result.cfg.primary_metric}_{result.cfg.primary_horizon}"


def data_tags(ds: MarketDataset) -> dict[str, str]:
    """What every run records about the data it used (exactly the data held: see MarketDataset.upto)."""
    through = ds.data_through
    return {
        "data_source": ds.source.label,
        "data_synthetic": str(ds.source.synthetic),
        "data_hash": ds.data_hash,
        "data_through": "n/a" if through is None else str(through.date()),
        "universe": ds.universe.name,
        # today's members only (sp500): every backtest figure of the run carries survivorship bias
        **({"survivorship_bias": note} if (note := ds.universe.survivorship_note) else {}),
    }


def log_and_register(result: TrainResult, store_dir: str | None = None, run_name: str | None = None) -> dict:
    """Everything MLflow sees of a training run; returns ids, version and the gate decision.

    `store_dir` defaults to the training config's."""
    import mlflow

    from training.mlflow_model import BUNDLE, ForecasterModel
    from training.plots import calibration_figure, horizon_figure

    cfg, ds = result.cfg, result.dataset
    store = store_dir or cfg.store_dir
    exp_id = open_store(store, cfg.experiment)  # also marks runs left RUNNING by dead processes FAILED
    owner = process_tags()  # set as each run is created, so a run whose process dies can be told apart
    name = registered_name(ds.universe.name, ds.source)
    tags = {
        **data_tags(ds),
        "git_commit": git_commit(),
        "registered_model": name,
        "protocol": f"purged expanding walk-forward, yearly refit, step {cfg.step}, first test {cfg.first_test_year}",
    }
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "lgbm_params"}
    params.update({f"lgbm_{k}": v for k, v in cfg.lgbm_params.items()})
    with mlflow.start_run(
        experiment_id=exp_id, run_name=run_name or f"train-{ds.universe.name}-{ds.source.name}", tags=owner
    ) as parent:
        mlflow.set_tags(tags)
        mlflow.log_params({k: json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for k, v in params.items()})
        summary = {}
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            for horizon, hr in result.horizons.items():
                for model, metrics in hr.metrics.items():
                    with mlflow.start_run(experiment_id=exp_id, run_name=f"{horizon}/{model}", nested=True, tags=owner):
                        mlflow.set_tags({**tags, "horizon": horizon, "model": model, "chosen": str(model == hr.chosen)})
                        mlflow.log_metrics(clean_metrics(metrics))
                        log_series(hr.series.get(model, {}))
                # the run's headline figures are the selection-honest ones (what the gate compares)
                honest = clean_metrics(hr.metrics[SELECTED])
                summary[horizon] = {
                    "kept": hr.chosen,
                    "shrink": hr.shrink,
                    "selection": {str(y): m for y, m in hr.walk_forward.selection.items()},
                    **honest,
                }
                mlflow.log_metrics({f"{k}_{horizon}": v for k, v in honest.items()})
                mlflow.set_tag(f"kept_model_{horizon}", hr.chosen)
                horizon_figure(horizon, hr.series, hr.importance, tmp / f"walk_forward_{horizon}.png")
                calibration_figure(horizon, hr.series, tmp / f"calibration_{horizon}.png", cfg.coverage)
                # parquet: a gzipped CSV of every model's columns took seconds of the training budget
                hr.walk_forward.oos.to_parquet(tmp / f"oos_predictions_{horizon}.parquet")
            (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
            mlflow.log_artifacts(str(tmp), artifact_path="evaluation")
            bundle = result.forecaster.save(tmp / BUNDLE, result.boosters)
            logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # the cloudpickle advice is noise here
            info = mlflow.pyfunc.log_model(
                name="forecaster",
                python_model=ForecasterModel(),
                artifacts={BUNDLE: str(bundle)},
                pip_requirements=PIP_REQUIREMENTS,
            )
        # concurrent trainings: one writer of version numbers and of the alias at a time (the store lock)
        with store_lock(store):
            version = str(mlflow.register_model(info.model_uri, name).version)
        mlflow.log_metrics(
            {
                "lgbm_fit_seconds": result.clock.seconds,
                "lgbm_fits": result.clock.fits,
                "other_families_fit_seconds": result.timings.get("other_families_fit_s", 0.0),
                "train_and_evaluate_seconds": result.timings.get("train_and_evaluate_s", 0.0),
            }
        )
        key = primary_key(result)
        base_name, base_value = result.best_baseline()
        mlflow.log_metric(f"best_baseline_{key}", base_value)
        mlflow.set_tag("best_baseline", base_name)
        with store_lock(store):  # read the champion, compare, move the alias: no other gate in between
            decision: GateDecision = champion_gate(name, version, result.primary_metric(), key, result.best_baseline())
        mlflow.set_tags({"champion_promoted": str(decision.promoted), "champion_reason": decision.reason})
    return {
        "run_id": parent.info.run_id,
        "experiment_id": exp_id,
        "model_name": name,
        "version": version,
        "gate": decision,
        "primary_key": key,
    }


def log_unseen(scores: UnseenScores, ds: MarketDataset, cfg: TrainConfig, model: str) -> str:
    """One MLflow run for a scoring on unseen dates (the model and the baselines, with pictures); returns its run id."""
    import mlflow

    from training.plots import calibration_figure, horizon_figure

    exp_id = open_store(cfg.store_dir, cfg.experiment)
    with mlflow.start_run(
        experiment_id=exp_id, run_name=f"evaluate-{scores.model_name}-{model}", tags=process_tags()
    ) as run:
        mlflow.set_tags({"kind": "evaluation", "model_uri": scores.uri, **data_tags(ds)})
        for h, m in scores.metrics.items():
            mlflow.log_metrics({f"{k}_{h}": v for k, v in clean_metrics(m).items()})
            for b, bm in scores.baselines.get(h, {}).items():
                mlflow.log_metrics({f"{b}_{k}_{h}": v for k, v in clean_metrics(bm).items()})
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            for h, series in scores.series.items():
                horizon_figure(h, series, pd.Series(dtype="float64"), tmp / f"unseen_{h}.png")
                calibration_figure(h, series, tmp / f"calibration_{h}.png", cfg.coverage)
            mlflow.log_artifacts(str(tmp), artifact_path="evaluation")
    return run.info.run_id
