"""Log a TrainResult to MLflow (one parent run, a nested run per horizon and model), register the
forecaster, and run the champion gate last so a failure anywhere leaves the champion alone."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from training.registry import GateDecision, champion_gate, registered_name
from training.store import open_store
from training.train import TrainResult

PIP_REQUIREMENTS = ["lightgbm", "pandas", "numpy"]  # explicit: inference would spawn a slow subprocess


def data_hash(bars: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(bars, index=False).to_numpy().tobytes()).hexdigest()[:16]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def clean_metrics(metrics: dict) -> dict:
    """Finite floats only: MLflow rejects None and NaN would hide in the UI."""
    return {k: float(v) for k, v in metrics.items() if v is not None and pd.notna(v)}


def primary_key(result: TrainResult) -> str:
    return f"{result.cfg.primary_metric}_{result.cfg.primary_horizon}"


def log_and_register(result: TrainResult, store_dir: str = "mlruns", run_name: str | None = None) -> dict:
    """Everything MLflow sees of a training run; returns ids, version and the gate decision."""
    import mlflow

    from training.mlflow_model import BUNDLE, ForecasterModel
    from training.plots import horizon_figure

    cfg, loaded = result.cfg, result.loaded
    exp_id = open_store(store_dir, cfg.experiment)
    name = registered_name(loaded.universe.name, loaded.market.is_demo)
    tags = {
        "data_source": loaded.market.source,
        "data_hash": data_hash(loaded.market.bars),
        "data_through": str(loaded.market.data_through.date()),
        "universe": loaded.universe.name,
        "git_commit": git_commit(),
        "registered_model": name,
        "protocol": f"purged expanding walk-forward, yearly refit, step {cfg.step}, first test {cfg.first_test_year}",
    }
    params = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "lgbm_params"}
    params.update({f"lgbm_{k}": v for k, v in cfg.lgbm_params.items()})
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name or f"train-{loaded.universe.name}-{loaded.market.kind}") as parent:
        mlflow.set_tags(tags)
        mlflow.log_params({k: json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for k, v in params.items()})
        summary = {}
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for horizon, hr in result.horizons.items():
                for model, metrics in hr.metrics.items():
                    with mlflow.start_run(experiment_id=exp_id, run_name=f"{horizon}/{model}", nested=True):
                        mlflow.set_tags({**tags, "horizon": horizon, "model": model,
                                         "chosen": str(model == hr.chosen)})
                        mlflow.log_metrics(clean_metrics(metrics))
                chosen = clean_metrics(hr.metrics[hr.chosen])
                summary[horizon] = {"chosen": hr.chosen, **chosen}
                mlflow.log_metrics({f"{k}_{horizon}": v for k, v in chosen.items()})
                horizon_figure(horizon, hr.series, hr.importance, tmp / f"walk_forward_{horizon}.png")
                hr.walk_forward.oos.to_csv(tmp / f"oos_predictions_{horizon}.csv.gz", float_format="%.6g")
            (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
            mlflow.log_artifacts(str(tmp), artifact_path="evaluation")
            bundle = result.forecaster.save(tmp / BUNDLE, result.boosters)
            logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)  # the cloudpickle advice is noise here
            info = mlflow.pyfunc.log_model(
                name="forecaster", python_model=ForecasterModel(), artifacts={BUNDLE: str(bundle)},
                pip_requirements=PIP_REQUIREMENTS, registered_model_name=name,
            )
        mlflow.log_metrics({"lgbm_fit_seconds": result.clock.seconds, "lgbm_fits": result.clock.fits})
        version = str(info.registered_model_version)
        key = primary_key(result)
        decision: GateDecision = champion_gate(name, version, result.primary_metric(), key)
        mlflow.set_tags({"champion_promoted": str(decision.promoted), "champion_reason": decision.reason})
    return {"run_id": parent.info.run_id, "experiment_id": exp_id, "model_name": name, "version": version,
            "gate": decision, "primary_key": key}
