"""Registered models and the `champion` alias: it moves only to a model that is really better.

Promotion compares the primary walk-forward metric logged on each model's training run. The
alias is set as the very last step of a run, so a crashed or interrupted run never touches it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from features.sources.data_source import DataSource
from training.forecaster import SectorForecaster

CHAMPION = "champion"


def registered_name(universe: str, source: DataSource) -> str:
    """Models trained on the synthetic demo live under their own name, so they never serve real data.

    Decided by the source's typed `synthetic` field, never by its display label."""
    return f"sector-heatmap-{universe}" + ("-demo" if source.synthetic else "")


def trained_on_synthetic(forecaster: SectorForecaster) -> bool | None:
    """What the model recorded about its training data (None for models saved before it was recorded)."""
    flag = forecaster.info.get("synthetic")
    return None if flag is None else bool(flag)


@dataclass
class ChampionModel:
    forecaster: SectorForecaster
    card: dict  # name, version, run_id, trained_at, training_window, data_source, skill per horizon


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    previous_version: str | None = None
    previous_metric: float | None = None


def _current_champion(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def champion_gate(name: str, version: str, new_metric: float, metric_key: str) -> GateDecision:
    """Move `champion` to `version` iff its `metric_key` beats the current champion's."""
    from mlflow import MlflowClient

    client = MlflowClient()
    current = _current_champion(client, name)
    if not math.isfinite(new_metric):
        return GateDecision(False, f"new {metric_key} is not a number; champion unchanged")
    if current is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        return GateDecision(True, "no champion yet: the new model becomes champion")
    old = client.get_run(current.run_id).data.metrics.get(metric_key) if current.run_id else None
    if old is None or not math.isfinite(old) or new_metric > old:
        client.set_registered_model_alias(name, CHAMPION, version)
        was = "n/a" if old is None else f"{old:.4f}"
        return GateDecision(
            True, f"{metric_key} {new_metric:.4f} beats champion v{current.version} ({was})", str(current.version), old
        )
    return GateDecision(
        False,
        f"{metric_key} {new_metric:.4f} does not beat champion v{current.version} "
        f"({old:.4f}); v{version} stays registered, unpromoted",
        str(current.version),
        old,
    )


def load_champion(
    universe: str, source: DataSource, store_dir: str | Path, experiment: str
) -> tuple[ChampionModel | None, str]:
    """The champion for a universe and data source, or (None, reason) — never raises for a missing model.

    A champion whose recorded training data is synthetic while `source` is real (or the reverse)
    is refused, whatever name it was registered under."""
    name = registered_name(universe, source)
    try:
        from training.store import open_store

        if open_store(store_dir, experiment, create=False) is None:
            return None, f"no model store at {Path(store_dir).resolve()} (run `make train`)"
        import mlflow
        from mlflow import MlflowClient

        client = MlflowClient()
        mv = _current_champion(client, name)
        if mv is None:
            return None, f"no '{CHAMPION}' registered for {name} (run `make train`)"
        model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
        forecaster = model.unwrap_python_model().forecaster
        synthetic = trained_on_synthetic(forecaster)
        if synthetic is not None and synthetic != source.synthetic:
            trained, serving = ("synthetic demo", "real") if synthetic else ("real", "synthetic demo")
            return None, f"refused: {name} v{mv.version} was trained on {trained} data and cannot serve {serving} data"
        run = client.get_run(mv.run_id)
        card = {
            "name": name,
            "version": str(mv.version),
            "run_id": mv.run_id,
            "trained_at": datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat(timespec="seconds"),
            "training_window": list(forecaster.training_window),
            "data_source": forecaster.info.get("data_source"),
            "skill": {h: hm.skill for h, hm in forecaster.horizons.items()},
        }
        return ChampionModel(forecaster, json.loads(json.dumps(card, default=str))), "ok"
    except Exception as exc:  # a broken store must degrade serving to descriptive-only, not crash it
        return None, f"model unavailable: {type(exc).__name__}: {exc}"
