"""The MLflow store inside `mlruns/`: SQLite for runs and the registry, a folder for artifacts.

The database records absolute artifact paths, so every clone creates its own (never committed).
"""

from __future__ import annotations

import os
from pathlib import Path

# the MLflow 3 UI opens an experiment in its "model training" view (runs table) only with this tag
UI_KIND = {"mlflow.experimentKind": "custom_model_development"}


def tracking_uri(store_dir: str | Path) -> str:
    return f"sqlite:///{Path(store_dir).resolve() / 'mlflow.db'}"


def open_store(store_dir: str | Path, experiment: str, create: bool = True):
    """Point MLflow at the store (creating it and the experiment if asked); returns the experiment id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    store = Path(store_dir).resolve()
    if not create and not (store / "mlflow.db").exists():
        return None
    (store / "artifacts").mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(store))
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        if not create:
            return None
        return mlflow.create_experiment(experiment, artifact_location=(store / "artifacts").as_uri(), tags=UI_KIND)
    return exp.experiment_id
