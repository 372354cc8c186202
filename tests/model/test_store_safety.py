"""The model store under real conditions: concurrent first trainings, killed runs, the store setting from the
environment, a serving path that never writes the store, and statuses that do not leak internals.

The trainings here are the real `sector-heatmap train` in child processes (same temporary working folder, so
the same `mlruns/`), on a small demo market with a small config: no network.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from model_builders import PLANTED, crown_version_1, small_training

from features.sources.data_source import DataSource
from serving.cli import main
from training.config import DEFAULT_STORE_DIR, STORE_ENV, TrainConfig
from training.registry import (
    MODEL_ARTIFACTS_MISSING,
    MODEL_UNAVAILABLE,
    NO_CHAMPION,
    NO_MODEL_STORE,
    OK,
    STORE_CORRUPT,
    load_champion,
    registered_name,
    status_code,
)
from training.store import HOST_TAG, PID_START_TAG, PID_TAG, STALE_TAG, fail_stale_runs, open_store, process_tags
from training.tracking import log_and_register

SOURCE = "demo:years=6,seed=3"
EXPERIMENT = "sector-heatmap"
NAME = registered_name("us_sectors", DataSource.parse(SOURCE))
SMALL = small_training(num_boost_round=30, n_boot=200)
LOGGER = "sector_heatmap.training"

# Runs `sector-heatmap train` (serving.cli.main, the console script's entry point) in a child process,
# optionally with a hook: "together" holds each trainer just before it opens the store until both are
# there (so both create the new store at the same moment), "hang" stops a trainer inside its MLflow run.
CHILD = r"""
import os, sys, time, pathlib
hook, folder, argv = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
if hook == "together":
    import training.tracking as tracking
    real = tracking.open_store
    def together(*a, **kw):
        (folder / f"ready-{os.getpid()}").touch()
        deadline = time.monotonic() + 120
        while len(list(folder.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.002)
        return real(*a, **kw)
    tracking.open_store = together
elif hook == "hang":
    import training.plots
    def hang(*a, **kw):
        (folder / "in-run").touch()
        time.sleep(600)
    training.plots.horizon_figure = hang
from serving.cli import main
sys.exit(main(argv))
"""


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECTOR_HEATMAP_")}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", PYTHONDONTWRITEBYTECODE="1", COLUMNS="200", **extra)
    return env


def start_training(folder: Path, hook: str = "none", env: dict[str, str] | None = None) -> subprocess.Popen:
    script = folder / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    config = folder / "small.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump({"training": SMALL}))
    argv = ["train", "--source", SOURCE, "--config", str(config)]
    return subprocess.Popen(
        [sys.executable, str(script), hook, str(folder), *argv],
        cwd=folder,
        env=env or child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def client_for(store: Path):
    from mlflow import MlflowClient

    from training.store import open_store

    exp = open_store(store, EXPERIMENT, create=False)
    assert exp is not None, f"no experiment in {store}"
    return MlflowClient(), exp


def parent_runs(client, exp: str):
    return client.search_runs([exp], filter_string="attributes.run_name = 'train-us_sectors-demo'")


# ---- A: two first trainings at once on a new, empty store ---------------------------------------------------


@pytest.mark.slow
def test_two_trainings_started_together_on_an_empty_store_both_succeed(tmp_path):
    procs = [start_training(tmp_path, "together") for _ in range(2)]
    outs = [p.communicate(timeout=540) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
    client, exp = client_for(tmp_path / "mlruns")
    runs = parent_runs(client, exp)
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    versions = client.search_model_versions(f"name='{NAME}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert {v.run_id for v in versions} == {r.info.run_id for r in runs}  # one version per run
    promoted = [r for r in runs if r.data.tags.get("champion_promoted") == "True"]
    # same data, same config: at most the first gate promotes (only if the model beats the best baseline);
    # the second one's equal metric never beats it
    assert len(promoted) <= 1
    assert len({r.data.metrics["rank_ic_mean_1M"] for r in runs}) == 1
    aliases = client.get_registered_model(NAME).aliases
    assert aliases == (
        {"champion": str(next(v.version for v in versions if v.run_id == promoted[0].info.run_id))} if promoted else {}
    )
    assert len(client.search_experiments(filter_string=f"name = '{EXPERIMENT}'")) == 1


# ---- B: a run whose process died is marked FAILED at the next start ----------------------------------------


@pytest.mark.slow
def test_a_training_killed_midway_is_marked_failed_when_the_next_one_starts(tmp_path, trained):
    proc = start_training(tmp_path, "hang")
    deadline = time.monotonic() + 300
    while not (tmp_path / "in-run").exists():  # the child is inside its MLflow run
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the child training never reached its MLflow run"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()  # reaped: its pid is gone
    client, exp = client_for(tmp_path / "mlruns")
    [killed] = parent_runs(client, exp)
    assert killed.info.status == "RUNNING"  # what a killed run leaves behind
    assert killed.data.tags[PID_TAG] == str(proc.pid)

    new = log_and_register(trained(0.0, 1), tmp_path / "mlruns")  # the next training, same store
    after = client.get_run(killed.info.run_id)
    assert after.info.status == "FAILED"
    assert str(proc.pid) in after.data.tags[STALE_TAG] and "gone" in after.data.tags[STALE_TAG]
    assert client.get_run(new["run_id"]).info.status == "FINISHED"
    running = client.search_runs([exp], filter_string="attributes.status = 'RUNNING'")
    assert running == []


def test_only_runs_whose_process_is_gone_are_failed(tmp_path):
    from mlflow import MlflowClient

    exp = open_store(tmp_path / "mlruns", EXPERIMENT)
    client = MlflowClient()
    me = process_tags()
    assert me[PID_TAG] == str(os.getpid()) and me[PID_START_TAG]  # Linux: the start time tells a reused pid
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = ended.stdout.strip()
    week_ago = int((time.time() - 8 * 24 * 3600) * 1000)
    made = {
        "alive": client.create_run(exp, tags=me),
        "dead": client.create_run(exp, tags={**me, PID_TAG: dead_pid, PID_START_TAG: ""}),
        "pid_reused": client.create_run(exp, tags={**me, PID_START_TAG: "1"}),  # our pid, another process's start
        "other_host_recent": client.create_run(exp, tags={HOST_TAG: "elsewhere", PID_TAG: dead_pid}),
        "other_host_old": client.create_run(exp, start_time=week_ago, tags={HOST_TAG: "elsewhere", PID_TAG: "1"}),
        "untagged_recent": client.create_run(exp),
    }
    ids = {k: r.info.run_id for k, r in made.items()}
    failed = fail_stale_runs(client, exp)
    assert sorted(failed) == sorted(ids[k] for k in ("dead", "pid_reused", "other_host_old"))
    status = {k: client.get_run(i).info.status for k, i in ids.items()}
    assert status == {
        "alive": "RUNNING",
        "dead": "FAILED",
        "pid_reused": "FAILED",
        "other_host_recent": "RUNNING",
        "other_host_old": "FAILED",
        "untagged_recent": "RUNNING",
    }
    assert open_store(tmp_path / "mlruns", EXPERIMENT) == exp  # the next start finds nothing more to fail
    assert client.get_run(ids["alive"]).info.status == "RUNNING"


# ---- C: one environment setting for the store, for training and serving ---------------------------------------


def test_the_store_folder_comes_from_the_environment_when_set(monkeypatch, tmp_path):
    monkeypatch.delenv(STORE_ENV, raising=False)
    assert TrainConfig().store_dir == DEFAULT_STORE_DIR == "mlruns"
    assert TrainConfig.from_mapping({}).store_dir == "mlruns"
    assert TrainConfig.from_mapping({"store_dir": "from-yaml"}).store_dir == "from-yaml"
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "env-store"))
    assert TrainConfig().store_dir == str(tmp_path / "env-store")
    assert TrainConfig.from_mapping({}).store_dir == str(tmp_path / "env-store")
    assert TrainConfig.from_mapping({"store_dir": "from-yaml"}).store_dir == str(tmp_path / "env-store")  # as serving
    assert TrainConfig.from_mapping({}, environ={}).store_dir == "mlruns"  # an explicit environment is used as given
    assert TrainConfig.from_mapping({}, environ={STORE_ENV: "given"}).store_dir == "given"
    monkeypatch.setenv(STORE_ENV, "")
    assert TrainConfig.from_mapping({}).store_dir == "mlruns"  # empty means unset


def run_cli(workdir: Path, argv: list[str], monkeypatch) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("COLUMNS", "200")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_train_and_heatmap_share_the_store_given_by_the_environment(monkeypatch, tmp_path):
    import json

    work, store = tmp_path / "work", tmp_path / "elsewhere" / "store"
    work.mkdir()
    config = work / "small.yaml"
    config.write_text(yaml.safe_dump({"training": SMALL}))
    monkeypatch.setenv(STORE_ENV, str(store))
    code, _, err = run_cli(work, ["train", "--source", SOURCE, "--config", str(config)], monkeypatch)
    assert code == 0, err
    assert (store / "mlflow.db").is_file() and not (work / "mlruns").exists()
    crown_version_1(store)
    out = work / "h.json"
    argv = ["heatmap", "--source", SOURCE, "--config", str(config), "--format", "json", "--output", str(out)]
    code, _, err = run_cli(work, argv, monkeypatch)
    assert code == 0, err
    resp = json.loads(out.read_text())
    assert resp["model_status"] == OK and resp["model"]["name"] == NAME


# ---- D: loading the champion never creates, migrates or writes the store ---------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder` with its bytes and modification time."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def foreign_sqlite(db: Path) -> None:
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.execute("INSERT INTO notes VALUES ('mine')")
    con.commit()
    con.close()


def older_mlflow_schema(db: Path) -> None:
    """Tables of MLflow's first schema only: what MLflow would migrate when pointed at it."""
    import sqlalchemy
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    InitialBase.metadata.create_all(engine)
    engine.dispose()


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda db: db.write_bytes(b""), NO_MODEL_STORE),
        (lambda db: db.write_bytes(b"this is not a database"), STORE_CORRUPT),
        (foreign_sqlite, STORE_CORRUPT),
        (older_mlflow_schema, STORE_CORRUPT),
        (lambda db: None, NO_MODEL_STORE),  # a store folder without its database
    ],
    ids=["empty", "garbage", "foreign-sqlite", "older-mlflow-schema", "no-db-file"],
)
def test_loading_the_champion_never_creates_or_migrates_the_store(tmp_path, make, code):
    store = tmp_path / "mlruns"
    store.mkdir()
    make(store / "mlflow.db")
    time.sleep(0.01)  # a write after this would show in the mtime
    before = snapshot(store)
    model, why = load_champion("us_sectors", DataSource.parse(SOURCE), store, EXPERIMENT)
    assert model is None and status_code(why) == code, why
    assert snapshot(store) == before  # same files, bytes and mtimes: nothing created, migrated or written


def test_loading_without_a_store_folder_creates_nothing(tmp_path):
    model, why = load_champion("us_sectors", DataSource.parse(SOURCE), tmp_path / "nowhere", EXPERIMENT)
    assert model is None and status_code(why) == NO_MODEL_STORE
    assert list(tmp_path.iterdir()) == []


# ---- E: statuses are a code and a plain message; the details are in the log -----------------------------------


@pytest.fixture
def fresh_store(tmp_path, trained):
    """A store with one trained demo model as champion (its own folder: tests may break it): the planted
    market, whose model beats the baselines and so passes the gate."""
    store = tmp_path / "mlruns"
    assert log_and_register(trained(PLANTED, 2), store)["gate"].promoted
    return store


def plain(why: str) -> None:
    """A status a client may see: "ok" or "code: message", without paths, SQL or exception text."""
    code, _, message = why.partition(": ")
    assert why == OK or (code and message), why
    assert "/" not in why and "\\" not in why and "SQL" not in why and "Error" not in why, why
    assert "\n" not in why and "Traceback" not in why, why


def test_a_healthy_store_loads_and_is_left_untouched(fresh_store):
    time.sleep(0.01)
    before = snapshot(fresh_store)
    model, why = load_champion("us_sectors", DataSource.parse(SOURCE), fresh_store, EXPERIMENT)
    assert why == OK and model is not None
    assert snapshot(fresh_store) == before


def test_a_missing_store_says_so_without_its_path(tmp_path, caplog):
    where = tmp_path / "nowhere"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        model, why = load_champion("us_sectors", DataSource.parse(SOURCE), where, EXPERIMENT)
    assert model is None and status_code(why) == NO_MODEL_STORE and "make train" in why
    plain(why)
    assert str(where) in caplog.text  # the operator still learns where it looked


def corrupt_copy(store: Path, dest: Path) -> Path:
    """The store's database copied to a new folder (never opened in this process) with its pages after the
    first overwritten: the header and schema page read, everything else is malformed."""
    dest.mkdir()
    data = bytearray((store / "mlflow.db").read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for off in range(page, len(data), page):
        data[off : off + 100] = b"\xff" * 100
    (dest / "mlflow.db").write_bytes(bytes(data))
    return dest


def test_a_corrupt_store_says_so_without_sql_and_logs_the_details(fresh_store, tmp_path, caplog):
    broken = corrupt_copy(fresh_store, tmp_path / "broken")
    time.sleep(0.01)
    before = snapshot(broken)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        model, why = load_champion("us_sectors", DataSource.parse(SOURCE), broken, EXPERIMENT)
    assert model is None and why == f"{STORE_CORRUPT}: the model store cannot be read"
    plain(why)
    assert str(broken) in caplog.text and "malformed" in caplog.text
    assert any(r.exc_info for r in caplog.records if r.name == LOGGER)  # with its traceback
    assert snapshot(broken) == before


@pytest.mark.parametrize("remove", ["models", "bundle"])
def test_deleted_model_files_say_so_without_paths(fresh_store, caplog, remove):
    [model_dir] = (fresh_store / "artifacts" / "models").iterdir()
    target = fresh_store / "artifacts" / "models" if remove == "models" else model_dir / "artifacts" / "artifacts"
    assert target.is_dir()
    shutil.rmtree(target)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        model, why = load_champion("us_sectors", DataSource.parse(SOURCE), fresh_store, EXPERIMENT)
    assert model is None and why == f"{MODEL_ARTIFACTS_MISSING}: the champion's files are missing"
    plain(why)
    assert str(fresh_store) in caplog.text


def test_other_failures_are_model_unavailable_with_the_details_only_in_the_log(fresh_store, caplog, monkeypatch):
    import mlflow

    def broken(*a, **kw):
        raise RuntimeError("cannot unpickle /secret/place/python_model.pkl [SQL: SELECT 1]")

    monkeypatch.setattr(mlflow.pyfunc, "load_model", broken)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        model, why = load_champion("us_sectors", DataSource.parse(SOURCE), fresh_store, EXPERIMENT)
    assert model is None and why == f"{MODEL_UNAVAILABLE}: the champion could not be loaded"
    plain(why)
    assert "/secret/place" in caplog.text and "Traceback" in caplog.text


def test_no_champion_names_the_model_and_nothing_else(fresh_store):
    real = DataSource.parse("csv:/data/us_daily")
    model, why = load_champion("us_sectors", real, fresh_store, EXPERIMENT)
    assert model is None
    assert why == f"{NO_CHAMPION}: no champion registered for sector-heatmap-us_sectors (run `make train`)"
    plain(why)


def test_evaluate_on_a_corrupt_store_is_one_line_without_sql(fresh_store, tmp_path, monkeypatch):
    broken = corrupt_copy(fresh_store, tmp_path / "broken")
    monkeypatch.setenv(STORE_ENV, str(broken))
    argv = ["evaluate", "--source", SOURCE, "--from", "2024-01-02"]
    code, _, err = run_cli(tmp_path, argv, monkeypatch)
    assert code == 2 and "Traceback" not in err and "SQL" not in err, err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "cannot be read" in line


def test_evaluate_load_errors_are_one_plain_line():
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    from training.unseen import load_failure

    try:
        try:
            raise sqlalchemy.exc.DatabaseError("SELECT x FROM model_versions", {}, Exception("disk image is malformed"))
        except sqlalchemy.exc.DatabaseError as db_error:
            raise MlflowException(str(db_error)) from db_error
    except MlflowException as wrapped:
        assert load_failure(wrapped, "mlruns") == "the model store in mlruns/ cannot be read"
    long = MlflowException("Registered Model with name=x not found\n[SQL: SELECT secret]\nmore internals")
    assert load_failure(long, "mlruns") == "Registered Model with name=x not found"
    assert load_failure(FileNotFoundError("/abs/bundle"), "mlruns") == "its files are missing from mlruns/"
