"""Registered models and the `champion` alias: it moves only to a model that is really better.

Promotion compares the primary walk-forward metric logged on each model's training run. The
alias is set as the very last step of a run, so a crashed or interrupted run never touches it.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np

from features.sources.data_source import DataSource
from training.forecaster import SectorForecaster

CHAMPION = "champion"

# load_champion's status: exactly OK, or "<code>: <plain message>" with no path, SQL or exception text
# (those go to the log, on `log`). Callers may branch on status_code(status).
OK = "ok"
NO_MODEL_STORE = "no_model_store"
NO_CHAMPION = "no_champion"
STORE_CORRUPT = "store_corrupt"
MODEL_ARTIFACTS_MISSING = "model_artifacts_missing"
REFUSED = "refused"
MODEL_UNAVAILABLE = "model_unavailable"

log = logging.getLogger("sector_heatmap.training")


def status(code: str, message: str) -> str:
    return f"{code}: {message}"


# each reached two ways: by load_champion's own checks, or by a load failing (failure_status)
CORRUPT_STATUS = status(STORE_CORRUPT, "the model store cannot be read")
FILES_MISSING_STATUS = status(MODEL_ARTIFACTS_MISSING, "the champion's files are missing")


def status_code(text: str) -> str:
    """The code of a load_champion status ("ok" for "ok")."""
    return text.split(":", 1)[0].strip()


def _files_missing(exc: BaseException) -> bool:
    """Whether a model load failed because files are gone (FileNotFoundError, or MLflow's 'No such artifact')."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, FileNotFoundError) or "No such artifact" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def failure_status(exc: BaseException) -> str:
    """The status for a champion that could not be loaded: the kind of failure, never its text."""
    from training.store import is_db_error

    if is_db_error(exc):
        return CORRUPT_STATUS
    if _files_missing(exc):
        return FILES_MISSING_STATUS
    return status(MODEL_UNAVAILABLE, "the champion could not be loaded")


def _local_artifacts(client, name: str, version: str) -> Path | None:
    """Where a model version's files are, when that is a local folder (None for remote stores)."""
    uri = client.get_model_version_download_uri(name, version)
    parsed = urlparse(uri)
    return Path(url2pathname(parsed.path)) if parsed.scheme == "file" else None


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
    """The champion's model version, or None when the model or its alias does not exist.

    Any other failure (a broken database) is raised: it must not read as "no champion yet", which
    would let a gate move the alias blindly and serving report the wrong reason."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        from training.store import is_db_error

        absent = {ErrorCode.Name(RESOURCE_DOES_NOT_EXIST), ErrorCode.Name(INVALID_PARAMETER_VALUE)}
        if exc.error_code in absent and not is_db_error(exc):
            return None  # no such registered model / no such alias
        raise


def champion_gate(
    name: str, version: str, new_metric: float, metric_key: str, baseline: tuple[str, float] | None = None
) -> GateDecision:
    """Move `champion` to `version` iff its `metric_key` beats the best baseline's (`baseline`: name,
    value on the same dates) AND the current champion's. A model that does not beat the best baseline
    stays registered but is never promoted, even when there is no champion yet."""
    from mlflow import MlflowClient

    client = MlflowClient()
    current = _current_champion(client, name)
    if not math.isfinite(new_metric):
        return GateDecision(False, f"new {metric_key} is not a number; champion unchanged")
    if baseline is not None and not new_metric > np.nan_to_num(baseline[1], nan=-np.inf):
        return GateDecision(
            False,
            f"{metric_key} {new_metric:.4f} does not beat the best baseline {baseline[0]} ({baseline[1]:.4f}) "
            f"on the same dates; v{version} stays registered, unpromoted",
        )
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
    """The champion for a universe and data source and "ok", or (None, status) — never raises.

    The status is "<code>: <message>" (codes above), safe to show a client: no path, SQL or exception
    text; the details go to the log "sector_heatmap.training". The store is only read: a missing,
    empty or foreign database is reported, never created or migrated (store.open_store, create=False).
    A champion whose recorded training data is synthetic while `source` is real (or the reverse)
    is refused, whatever name it was registered under."""
    name = registered_name(universe, source)
    where = Path(store_dir).resolve()
    try:
        from training import store

        try:
            exp = store.open_store(store_dir, experiment, create=False)
        except store.StoreCorrupt as exc:
            log.error("model store at %s cannot be read: %s", where, exc, exc_info=exc)
            return None, CORRUPT_STATUS
        if exp is None:
            log.warning("no model store at %s (mlflow.db missing or empty, or no experiment %r)", where, experiment)
            return None, status(NO_MODEL_STORE, "no model store yet (run `make train`)")
        import mlflow
        from mlflow import MlflowClient

        client = MlflowClient()
        mv = _current_champion(client, name)
        if mv is None:
            log.warning("no %r alias for registered model %s in the model store at %s", CHAMPION, name, where)
            return None, status(NO_CHAMPION, f"no champion registered for {name} (run `make train`)")
        files = _local_artifacts(client, name, str(mv.version))
        if files is not None and not (files / "MLmodel").is_file():
            log.error("champion %s v%s: its files are missing at %s (store %s)", name, mv.version, files, where)
            return None, FILES_MISSING_STATUS
        # into a temporary copy: given no dst_path, MLflow hands back the store's own folder and writes its
        # `registered_model_meta` file there. The boosters are read into memory, so the copy can go.
        with tempfile.TemporaryDirectory(prefix="sector-heatmap-champion-") as copy:
            model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}", dst_path=copy)
        forecaster = model.unwrap_python_model().forecaster
        synthetic = trained_on_synthetic(forecaster)
        if synthetic is not None and synthetic != source.synthetic:
            trained, serving = ("synthetic demo", "real") if synthetic else ("real", "synthetic demo")
            log.warning("champion %s v%s refused: trained on %s data, asked for %s", name, mv.version, trained, serving)
            return None, status(
                REFUSED, f"{name} v{mv.version} was trained on {trained} data and cannot serve {serving} data"
            )
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
        return ChampionModel(forecaster, json.loads(json.dumps(card, default=str))), OK
    except Exception as exc:  # a broken store must degrade serving to descriptive-only, not crash it
        why = failure_status(exc)
        log.error("cannot load the champion of %s from the store at %s (%s)", name, where, why, exc_info=exc)
        return None, why
