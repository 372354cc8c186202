"""The MLflow store inside `mlruns/`: SQLite for runs and the registry, a folder for artifacts.

The database records absolute artifact paths, so every clone creates its own (never committed).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from features.errors import ModelError

# the MLflow 3 UI opens an experiment in its "model training" view (runs table) only with this tag
UI_KIND = {"mlflow.experimentKind": "custom_model_development"}

DB_FILE = "mlflow.db"
LOCK_FILE = ".store.lock"
LOCK_WAIT_S = 300.0  # a writer waits this long for another one (creation and registration take seconds)
SHARED_LOCK_WAIT_S = 30.0  # a reader (serving) gives up sooner: it degrades to descriptive-only
SQLITE_HEADER = b"SQLite format 3\x00"

# who runs each run, tagged at its start: a later start marks it FAILED once its process is gone
PID_TAG = "sector_heatmap.pid"
PID_START_TAG = "sector_heatmap.pid_start"  # /proc start time: a reused pid is not the run's process
HOST_TAG = "sector_heatmap.host"
STALE_TAG = "sector_heatmap.stale"  # why a run was marked FAILED by fail_stale_runs
FOREIGN_STALE_AFTER_S = 7 * 24 * 3600  # another host's (or an untagged) RUNNING run: failed only after a week

log = logging.getLogger("sector_heatmap.training")


class StoreCorrupt(ModelError):
    """`mlflow.db` exists but is not a readable MLflow database of this MLflow's schema (the message says why)."""


class StoreBusy(ModelError):
    """Another process held the store's lock for longer than we wait."""


@contextlib.contextmanager
def store_lock(store_dir: str | Path, shared: bool = False, wait_s: float | None = None) -> Iterator[None]:
    """Lock the store against the other processes of this host: exclusive for whoever creates or registers,
    shared for a reader that must not see a half-created store.

    No installed library offers this as public API (MLflow's own ExclusiveFileLock is internal and
    locks a file in /tmp), so: fcntl.flock on `<store>/.store.lock`. The kernel drops the lock when its
    holder exits, even on kill -9, so a crashed trainer never leaves the store locked. Not re-entrant:
    a process must not take it twice (the second open would wait for the first). A shared lock never
    creates the lock file: without it nobody has ever created the store this way, so there is nothing
    to wait for and nothing is written.
    """
    path = Path(store_dir) / LOCK_FILE
    if shared:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
    else:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        wait = (SHARED_LOCK_WAIT_S if shared else LOCK_WAIT_S) if wait_s is None else wait_s
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreBusy(
                        f"the model store {store_dir} is busy: another process has held it for {wait:.0f}s"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _mlflow_schema() -> tuple[set[str], str]:
    """The tables this MLflow expects and its schema revision: what it would create or migrate if missing.

    Private MLflow helpers (checked in mlflow 3.x: mlflow/store/db/utils.py), the same ones its
    SqlAlchemyStore uses to decide whether to initialise a database; importing the module registers
    every table with Base.metadata."""
    import mlflow.store.db.utils as db_utils
    from mlflow.store.db.base_sql_model import Base

    return set(Base.metadata.tables), db_utils._get_latest_schema_revision()


def check_store_db(db: Path, complete: bool = True) -> bool:
    """Whether `db` holds an MLflow store, found without writing a byte: False when it is missing or empty
    (no store yet), StoreCorrupt when it is anything but a readable SQLite database and, with `complete`,
    an MLflow database of this MLflow's schema with its default experiment.

    Runs before MLflow sees the file, because MLflow silently creates or migrates whatever it is pointed at
    (a 0-byte file becomes a new store)."""
    try:
        size = db.stat().st_size
    except FileNotFoundError:
        return False
    if size == 0:
        return False
    try:
        with open(db, "rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreCorrupt(f"{db} cannot be read: {exc}") from exc
    if header != SQLITE_HEADER:
        raise StoreCorrupt(f"{db} is not an SQLite database")
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)  # read-only: never writes
        try:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not complete:
                return True
            revision = (
                con.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables
                else None
            )
            default_experiment = (
                con.execute("SELECT 1 FROM experiments WHERE experiment_id = 0").fetchone()
                if "experiments" in tables
                else None
            )
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise StoreCorrupt(f"{db} cannot be read: {exc}") from exc
    expected, head = _mlflow_schema()
    missing = sorted(expected - tables)
    if revision is None or missing:
        raise StoreCorrupt(f"{db} is not a complete MLflow store (missing tables: {missing or ['alembic_version']})")
    if revision[0] != head:
        raise StoreCorrupt(
            f"{db} has MLflow schema {revision[0]}, this MLflow reads {head} (back it up, then `mlflow db upgrade`)"
        )
    if default_experiment is None:
        raise StoreCorrupt(f"{db} has no default experiment 0 (not written by MLflow)")
    return True


def is_db_error(exc: BaseException) -> bool:
    """Whether the database itself failed (malformed, not a database) anywhere in `exc`'s causes.

    MLflow wraps SQLAlchemy's errors in MlflowException `from` the original, so the chain is followed.
    Operational errors (locked, cannot open) are passing conditions, not a broken store."""
    import sqlalchemy.exc

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, sqlite3.OperationalError | sqlalchemy.exc.OperationalError):
            return False
        if isinstance(cur, StoreCorrupt | sqlite3.DatabaseError | sqlalchemy.exc.DatabaseError):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process from Linux /proc; None elsewhere or if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # after "pid (comm)": field 3 (state) onwards
    return (fields[0], fields[19]) if len(fields) > 19 else None


def process_tags() -> dict[str, str]:
    """Tags naming this process, set on every run as it is created (see fail_stale_runs)."""
    stat = _proc_stat(os.getpid())
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(), PID_START_TAG: stat[1] if stat else ""}


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether process `pid` of this host still runs and, when `started` is known, is the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc here: existing is all we can tell
    state, start = stat
    if state in ("Z", "X"):  # a zombie has finished; only its exit status is left
        return False
    return not started or start == started


def fail_stale_runs(client, experiment_id: str) -> list[str]:
    """Mark FAILED the experiment's RUNNING runs whose process is gone (killed, crashed host); returns their ids.

    A run tagged with this host is stale as soon as its pid is not alive (or is now another process).
    A run from another host, or without the tags (runs logged before they existed, other tools), cannot
    be checked from here: it is left alone unless it started more than FOREIGN_STALE_AFTER_S ago."""
    host = socket.gethostname()
    now_ms = time.time() * 1000
    stale = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        tags, run_id = run.data.tags, run.info.run_id
        pid = tags.get(PID_TAG, "")
        if tags.get(HOST_TAG) == host and pid.isdigit():
            dead = not process_alive(int(pid), tags.get(PID_START_TAG))
            why = f"its process {pid} on {host} is gone"
        else:
            hours = (now_ms - (run.info.start_time or now_ms)) / 3.6e6
            dead = hours * 3600 > FOREIGN_STALE_AFTER_S
            why = f"it started {hours:.0f} h ago on {tags.get(HOST_TAG) or 'an unknown host'}"
        if dead:
            client.set_tag(run_id, STALE_TAG, f"left RUNNING: {why}")
            client.set_terminated(run_id, status="FAILED")
            log.warning("run %s (%s) was left RUNNING and %s: marked FAILED", run_id, run.info.run_name, why)
            stale.append(run_id)
    return stale


def _ensure_experiment(client, experiment: str, store: Path) -> str:
    """The experiment's id, created if missing. Another creator (one that does not take our lock, e.g. the
    MLflow UI) winning the race is not an error: its experiment is used."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    for _ in range(5):
        exp = client.get_experiment_by_name(experiment)
        if exp is not None:
            return exp.experiment_id
        try:
            return client.create_experiment(experiment, artifact_location=(store / "artifacts").as_uri(), tags=UI_KIND)
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
        time.sleep(0.1)
    raise ModelError(f"experiment {experiment!r} in {store} keeps being created and removed; try again")


def tracking_uri(store_dir: str | Path) -> str:
    return f"sqlite:///{Path(store_dir).resolve() / 'mlflow.db'}"


def open_store(store_dir: str | Path, experiment: str, create: bool = True):
    """Point MLflow at the store; returns the experiment id.

    create=True (a training or evaluation starting): creates the folder, database, tables and experiment
    as needed, all under the store lock, so trainings started together on a new store do not migrate the
    same database at once (the later one waits, then finds everything made); then marks the experiment's
    stale RUNNING runs FAILED (fail_stale_runs). A file that is not an SQLite database is StoreCorrupt.

    create=False (loading a model): creates, migrates and writes nothing. The database is checked
    read-only before MLflow sees it: None when it is missing or empty or lacks the experiment,
    StoreCorrupt when it is not a complete MLflow database."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow import MlflowClient

    store = Path(store_dir).resolve()
    db = store / DB_FILE
    if not create:
        with store_lock(store, shared=True), _db_errors_as_corrupt(db):
            if not check_store_db(db):
                return None
            mlflow.set_tracking_uri(tracking_uri(store))
            exp = MlflowClient().get_experiment_by_name(experiment)
        return None if exp is None else exp.experiment_id
    store.mkdir(parents=True, exist_ok=True)
    with store_lock(store), _db_errors_as_corrupt(db):
        check_store_db(db, complete=False)  # missing, empty or an older schema: MLflow makes or migrates it
        (store / "artifacts").mkdir(exist_ok=True)
        mlflow.set_tracking_uri(tracking_uri(store))
        client = MlflowClient()
        exp_id = _ensure_experiment(client, experiment, store)  # builds the tracking tables
        client.search_registered_models(max_results=1)  # and the registry's, while still locked
        fail_stale_runs(client, exp_id)
    return exp_id


@contextlib.contextmanager
def _db_errors_as_corrupt(db: Path) -> Iterator[None]:
    """A database failure (MLflow's multi-line exception with SQL) becomes a one-line StoreCorrupt."""
    try:
        yield
    except StoreCorrupt:
        raise
    except Exception as exc:
        if not is_db_error(exc):
            raise
        text = str(exc).strip()
        first = text.splitlines()[0].split("[SQL:")[0].strip() if text else type(exc).__name__
        raise StoreCorrupt(f"{db} cannot be read: {first}") from exc
