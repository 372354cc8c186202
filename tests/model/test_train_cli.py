"""`sector-heatmap train` / `evaluate` end to end in a temporary working directory (its own mlruns/)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest
import yaml
from model_builders import crown_version_1, small_training

from features.sources.data_source import DataSource
from features.sources.demo import default_end
from serving.cli import main

SOURCE = "demo:years=10,seed=3"
SMALL_TRAINING = small_training()
USER_ERROR = 2


def write_config(folder: Path, training: dict, name: str = "config.yaml") -> str:
    path = folder / name
    path.write_text(yaml.safe_dump({"training": training}))
    return str(path)


def run(workdir: Path, argv: list[str]) -> tuple[int, str, str]:
    """main(argv) inside `workdir`, with wide rich tables; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("COLUMNS", "200")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One training run with --until two years before the demo's last day, and its outputs."""
    folder = tmp_path_factory.mktemp("cli")
    config = write_config(folder, SMALL_TRAINING)
    end = default_end("XNYS")
    until = (end - pd.DateOffset(years=2)).date().isoformat()
    code, out, err = run(folder, ["train", "--source", SOURCE, "--config", config, "--until", until])
    promoted = "champion moved" in out
    if code == 0:
        crown_version_1(folder / "mlruns")
    return dict(
        folder=folder, config=config, until=pd.Timestamp(until), end=end, code=code, out=out, err=err, promoted=promoted
    )


def store_client(folder: Path):
    from mlflow import MlflowClient

    from training.store import open_store

    exp = open_store(folder / "mlruns", "sector-heatmap", create=False)
    return MlflowClient(), exp


def test_train_returns_0_prints_the_summary_and_creates_the_store(workdir):
    assert workdir["code"] == 0, workdir["err"]
    out = workdir["out"]
    assert "1M (21 sessions)" in out and "out of sample" in out
    for model in ("lgbm_regression", "selected", "mom_12_1", "last_3m", "zero"):
        assert model in out
    assert "nested selection per test year" in out
    # a fresh store: the first model becomes champion exactly when its honest figure beats the best baseline
    client, exp = store_client(workdir["folder"])
    [run_] = client.search_runs([exp], filter_string="attributes.run_name = 'train-us_sectors-demo'")
    m = run_.data.metrics
    assert workdir["promoted"] == (m["rank_ic_mean_1M"] > m["best_baseline_rank_ic_mean_1M"])
    assert workdir["promoted"] or "does not beat the best baseline" in " ".join(out.split())
    assert (workdir["folder"] / "mlruns" / "mlflow.db").is_file()
    assert (workdir["folder"] / "mlruns" / "artifacts").is_dir()


def test_train_until_trains_and_records_only_data_up_to_that_day(workdir):
    client, exp = store_client(workdir["folder"])
    [run_] = client.search_runs([exp], filter_string="attributes.run_name = 'train-us_sectors-demo'")
    through = pd.Timestamp(run_.data.tags["data_through"])
    assert through <= workdir["until"] and workdir["until"] - through < pd.Timedelta(days=7)
    from training.registry import load_champion

    model, reason = load_champion(
        "us_sectors", DataSource.parse(SOURCE), workdir["folder"] / "mlruns", "sector-heatmap"
    )
    assert reason == "ok"
    assert pd.Timestamp(model.card["training_window"][1]) <= workdir["until"]


def test_evaluate_the_champion_on_dates_after_training(workdir):
    start = (workdir["until"] + pd.DateOffset(months=1)).date().isoformat()
    code, out, err = run(
        workdir["folder"],
        ["evaluate", "--source", SOURCE, "--config", workdir["config"], "--model", "champion", "--from", start],
    )
    assert code == 0, err
    assert "on unseen data" in out and "1M" in out
    client, exp = store_client(workdir["folder"])
    [ev] = client.search_runs([exp], filter_string="tags.kind = 'evaluation'")
    assert ev.data.tags["model_uri"].endswith("@champion")
    metrics = ev.data.metrics
    assert metrics["n_dates_1M"] >= 10
    assert -1.0 <= metrics["rank_ic_mean_1M"] <= 1.0
    assert 0.0 <= metrics["interval_coverage_1M"] <= 1.0 and "coverage_min_year_1M" in metrics
    for b in ("mom_12_1", "last_3m", "zero"):  # the baselines on the same dates, with the same metrics
        assert b in out
        assert metrics[f"{b}_n_dates_1M"] == metrics["n_dates_1M"]
        assert f"{b}_rank_ic_ci_low_1M" in metrics and f"{b}_bt_ann_excess_vs_benchmark_1M" in metrics
    assert metrics["zero_rank_ic_mean_1M"] == 0.0
    pictures = {a.path for a in client.list_artifacts(ev.info.run_id, "evaluation")}
    assert {"evaluation/unseen_1M.png", "evaluation/calibration_1M.png"} <= pictures


def one_error_line(err: str) -> str:
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize(
    "argv, says",
    [
        (["train", "--source", "nosuch"], "unknown source"),
        (["train", "--source", SOURCE, "--universe", "atlantis"], "unknown universe"),
        (["train", "--source", SOURCE, "--until", "not-a-date"], "--until: 'not-a-date' is not a date"),
    ],
)
def test_bad_train_inputs_exit_2_with_one_error_line(tmp_path, argv, says):
    config = write_config(tmp_path, SMALL_TRAINING)
    code, _, err = run(tmp_path, [*argv, "--config", config])
    assert code == USER_ERROR
    assert says in one_error_line(err)
    assert not (tmp_path / "mlruns").exists()  # nothing half-written


def test_malformed_config_key_exits_2_naming_it(tmp_path):
    config = write_config(tmp_path, {**SMALL_TRAINING, "num_boost_rounds": 5})
    code, _, err = run(tmp_path, ["train", "--source", SOURCE, "--config", config])
    assert code == USER_ERROR
    assert "num_boost_rounds" in one_error_line(err)


def test_evaluate_from_inside_the_training_window_is_refused(workdir):
    inside = (workdir["until"] - pd.DateOffset(months=6)).date().isoformat()
    code, _, err = run(
        workdir["folder"], ["evaluate", "--source", SOURCE, "--config", workdir["config"], "--from", inside]
    )
    assert code == USER_ERROR
    line = one_error_line(err)
    assert "training window" in line and inside in line


def test_evaluate_without_a_store_exits_2(tmp_path):
    config = write_config(tmp_path, SMALL_TRAINING)
    code, _, err = run(tmp_path, ["evaluate", "--source", SOURCE, "--config", config, "--from", "2024-01-02"])
    assert code == USER_ERROR
    assert "no model store" in one_error_line(err)
    assert not (tmp_path / "mlruns").exists()


def test_a_custom_experiment_trains_and_then_serves(tmp_path):
    """training.experiment set in the YAML: the heatmap command with the same file finds the champion."""
    import json

    config = write_config(tmp_path, {**SMALL_TRAINING, "experiment": "desk-models"})
    code, _, err = run(tmp_path, ["train", "--source", SOURCE, "--config", config])
    assert code == 0, err
    crown_version_1(tmp_path / "mlruns", "desk-models")
    out = tmp_path / "h.json"
    code, _, err = run(
        tmp_path, ["heatmap", "--source", SOURCE, "--config", config, "--format", "json", "--output", str(out)]
    )
    assert code == 0, err
    resp = json.loads(out.read_text())
    assert resp["model_status"] == "ok" and resp["model"]["name"] == "sector-heatmap-us_sectors-demo"


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    """Only the project's own errors become one line; anything else is raised as it is."""
    from features.dataset import MarketDataset

    def bug(*a, **kw):
        raise ValueError("an internal mistake")

    monkeypatch.setattr(MarketDataset, "load", classmethod(bug))
    with pytest.raises(ValueError, match="an internal mistake"):
        run(tmp_path, ["data", "--source", SOURCE])
