"""Real MLflow on a temporary store: the champion alias moves only to a better, fully logged model."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pandas as pd
import pytest
from model_builders import HORIZON, PLANTED

from features.sources.data_source import DataSource
from training.models import BASELINES
from training.registry import CHAMPION, load_champion, registered_name
from training.tracking import log_and_register
from training.train import TrainResult

DEMO = DataSource.parse("demo")
REAL = DataSource.parse("csv:/data/us_daily")
EXPERIMENT = "sector-heatmap"
NAME = registered_name("us_sectors", DEMO)
PRIMARY = f"rank_ic_mean_{HORIZON}"
FORECAST_ONLY = {"rmse", "oos_r2_vs_zero", "interval_coverage", "prob_brier"}  # a return forecast's extras
CORE = {
    "rank_ic_mean",
    "rank_ic_ci_low",
    "rank_ic_ci_high",
    "rank_ic_t_stat",
    "spread_mean",
    "hit_rate",
    "bt_information_ratio",
    "bt_ann_excess_vs_benchmark",
    "n_dates",
}


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def champion_version() -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client().get_model_version_by_alias(NAME, CHAMPION).version)
    except MlflowException:  # no alias yet
        return None


@pytest.fixture(scope="module")
def history(tmp_path_factory, trained):
    """Five runs under one registered name, in order, with the alias after each.

    first  (random walk)        -> registered, NOT champion: it does not beat the best baseline
    crash  (planted, dies after registering)  -> registered, alias untouched
    better (planted)            -> champion (beats the baselines, no champion yet)
    worse  (random walk)        -> registered, unpromoted
    nan    (planted, metric NaN) -> registered, unpromoted
    """
    import mlflow

    null, planted = trained(0.0, 1), trained(PLANTED, 2)
    store = tmp_path_factory.mktemp("champion") / "mlruns"
    steps = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        steps["first"] = {**log_and_register(null, store), "alias": champion_version()}

        real = mlflow.log_metrics

        def dies_after_registration(metrics, *args, **kwargs):
            if "lgbm_fit_seconds" in metrics:  # logged right after the model version is created
                raise RuntimeError("simulated crash after registration")
            return real(metrics, *args, **kwargs)

        with pytest.MonkeyPatch.context() as crash:
            crash.setattr(mlflow, "log_metrics", dies_after_registration)
            with pytest.raises(RuntimeError, match="simulated crash"):
                log_and_register(planted, store)
        steps["crash"] = {"alias": champion_version()}
        steps["better"] = {**log_and_register(planted, store), "alias": champion_version()}
        steps["worse"] = {**log_and_register(null, store), "alias": champion_version()}
        with pytest.MonkeyPatch.context() as nan:
            nan.setattr(TrainResult, "primary_metric", lambda self: float("nan"))
            steps["nan"] = {**log_and_register(planted, store), "alias": champion_version()}
        yield dict(store=store, steps=steps, null=null, planted=planted)


def versions() -> dict[str, str]:
    """version -> run id, straight from the registry."""
    return {str(v.version): v.run_id for v in client().search_model_versions(f"name='{NAME}'")}


def test_a_model_losing_to_the_best_baseline_is_registered_but_never_promoted(history):
    first = history["steps"]["first"]
    assert not first["gate"].promoted and first["version"] == "1" and first["alias"] is None
    assert first["model_name"] == NAME and "best baseline" in first["gate"].reason
    run = client().get_run(first["run_id"])
    # independently: the honest model figure and the best baseline's, both as logged
    best = run.data.metrics[f"best_baseline_{PRIMARY}"]
    assert run.data.metrics[PRIMARY] <= best
    null = history["null"]
    assert best == pytest.approx(max(null.horizons[HORIZON].metrics[b]["rank_ic_mean"] for b in BASELINES))


def test_crash_after_registration_leaves_the_champion_alone(history):
    steps = history["steps"]
    assert steps["crash"]["alias"] is None
    registered = versions()
    assert "2" in registered  # the crashed run did register its model ...
    crashed = client().get_run(registered["2"])
    assert crashed.info.status == "FAILED"  # ... and its run is marked failed, not promoted
    assert "champion_promoted" not in crashed.data.tags


def test_better_run_moves_the_champion(history):
    s = history["steps"]
    better = s["better"]
    assert better["gate"].promoted and better["alias"] == better["version"] == "3"
    # independently from the runs' logged metrics
    m_first = client().get_run(s["first"]["run_id"]).data.metrics[PRIMARY]
    run = client().get_run(better["run_id"])
    m_better = run.data.metrics[PRIMARY]
    assert m_better > m_first and m_better > run.data.metrics[f"best_baseline_{PRIMARY}"]
    assert m_better == pytest.approx(history["planted"].primary_metric())


def test_worse_run_stays_registered_but_unpromoted(history):
    s = history["steps"]
    worse = s["worse"]
    assert not worse["gate"].promoted
    assert worse["alias"] == s["better"]["version"]
    assert worse["version"] in versions()
    run = client().get_run(worse["run_id"])
    assert run.data.tags["champion_promoted"] == "False"
    assert run.data.metrics[PRIMARY] < client().get_run(s["better"]["run_id"]).data.metrics[PRIMARY]


def test_a_non_numeric_metric_never_promotes(history):
    s = history["steps"]
    assert not s["nan"]["gate"].promoted and s["nan"]["alias"] == s["better"]["version"]
    assert s["nan"]["version"] in versions()


def test_run_logs_a_nested_run_per_horizon_and_model_with_comparable_metrics(history):
    s = history["steps"]
    parent = client().get_run(s["better"]["run_id"])
    children = client().search_runs(
        [s["better"]["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    planted = history["planted"]
    expected = {
        (h, m)
        for h, hr in planted.horizons.items()
        for m in [*(f"lgbm_{k}" for k in planted.cfg.objectives), *planted.cfg.families, "selected", *BASELINES]
    }
    got = {(r.data.tags["horizon"], r.data.tags["model"]) for r in children}
    assert got == expected and len(children) == len(expected)
    keys = {r.data.tags["model"]: set(r.data.metrics) for r in children}
    baseline_keys = [keys[b] for b in BASELINES]
    assert all(k == baseline_keys[0] for k in baseline_keys)  # baselines compare name for name
    assert baseline_keys[0] >= CORE
    model_keys = keys["lgbm_regression"]
    extra = model_keys - baseline_keys[0]
    assert baseline_keys[0] <= model_keys and {k for k in extra if not k.startswith("coverage_")} <= FORECAST_ONLY
    assert {"coverage_min_year", "coverage_vix_low", "coverage_vix_high"} <= extra
    chosen = [r for r in children if r.data.tags["chosen"] == "True"]
    assert [r.data.tags["model"] for r in chosen] == [planted.horizons[HORIZON].chosen]
    # the parent's headline is the selection-honest figure (nested walk-forward), not the kept model's
    [selected] = [r for r in children if r.data.tags["model"] == "selected"]
    assert parent.data.metrics[PRIMARY] == pytest.approx(selected.data.metrics["rank_ic_mean"])
    history_points = client().get_metric_history(selected.info.run_id, "coverage_by_year")
    years = planted.horizons[HORIZON].metrics["selected"]
    assert {p.step for p in history_points} == {int(k[-4:]) for k in years if k.startswith("coverage_year_")}
    artifacts = {a.path for a in client().list_artifacts(parent.info.run_id, "evaluation")}
    assert f"evaluation/calibration_{HORIZON}.png" in artifacts


def test_runs_are_tagged_with_their_data_and_code(history):
    s = history["steps"]
    tags = {k: client().get_run(s[k]["run_id"]).data.tags for k in ("first", "better", "worse")}
    for step, t in tags.items():
        for key in ("data_source", "data_hash", "universe", "git_commit"):
            assert t.get(key), (step, key)
        assert t["universe"] == "us_sectors"
    assert tags["first"]["data_source"] == history["null"].dataset.source.label
    assert tags["better"]["data_source"] == history["planted"].dataset.source.label
    assert tags["first"]["data_hash"] == tags["worse"]["data_hash"]  # same bars, same hash
    assert tags["first"]["data_hash"] != tags["better"]["data_hash"]  # different market, different hash
    # the tag names a real commit of this repository (HEAD may move while the suite runs, so not "== HEAD")
    commit = tags["better"]["git_commit"]
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        in_repo = subprocess.run(["git", "rev-parse", "--git-dir"], capture_output=True, timeout=5).returncode == 0
    except OSError:
        in_repo = False
    if in_repo:
        assert found.returncode == 0 and len(commit) >= 7, commit
    else:
        assert commit == "unknown"


def test_load_champion_without_a_store_says_why(tmp_path):
    model, reason = load_champion("us_sectors", DEMO, tmp_path / "nowhere", EXPERIMENT)
    assert model is None and "no model store" in reason


def test_load_champion_for_a_name_without_champion_says_why(history):
    model, reason = load_champion("us_sectors", REAL, history["store"], EXPERIMENT)  # only the demo name was trained
    assert model is None and CHAMPION in reason and registered_name("us_sectors", REAL) in reason


def test_load_champion_from_a_broken_store_degrades(tmp_path):
    (tmp_path / "mlruns").mkdir()
    (tmp_path / "mlruns" / "mlflow.db").write_bytes(b"this is not a database")
    model, reason = load_champion("us_sectors", DEMO, tmp_path / "mlruns", EXPERIMENT)
    assert model is None and reason == "store_corrupt: the model store cannot be read"


def test_load_champion_returns_the_promoted_forecaster_and_its_card(history):
    s, planted = history["steps"], history["planted"]
    model, reason = load_champion("us_sectors", DEMO, history["store"], EXPERIMENT)
    assert reason == "ok"
    card = model.card
    assert card["name"] == NAME and card["version"] == s["better"]["version"]
    assert card["run_id"] == s["better"]["run_id"]
    assert card["training_window"] == list(planted.forecaster.training_window)
    assert card["data_source"] == planted.dataset.source.label
    skill = card["skill"][HORIZON]
    assert skill["rank_ic_mean"] == pytest.approx(client().get_run(s["better"]["run_id"]).data.metrics[PRIMARY])
    assert skill["significant"] is True and skill["rank_ic_ci_low"] > 0
    assert not math.isnan(pd.Timestamp(card["trained_at"]).timestamp())
    table = planted.dataset.features
    recent = table[table.index.get_level_values("date") >= planted.dataset.panels.dates[-60]]
    pd.testing.assert_frame_equal(
        model.forecaster.predict(recent), planted.forecaster.predict(recent), check_exact=True
    )
    assert np.isfinite(model.forecaster.predict(recent).to_numpy()).all()


def test_model_name_follows_the_typed_source_never_its_label(tmp_path):
    """A folder whose name looks like a demo label is still real data, and the reverse."""
    lookalike = DataSource.parse(f"csv:{tmp_path / 'demo(seed=7)'}")
    assert lookalike.label.startswith("csv:") and "demo(" in lookalike.label and not lookalike.synthetic
    assert (
        registered_name("us_sectors", lookalike) == registered_name("us_sectors", REAL) == "sector-heatmap-us_sectors"
    )
    assert registered_name("us_sectors", DEMO) == "sector-heatmap-us_sectors-demo"
    assert DataSource.parse("demo:seed=3").ended("2024-06-28").synthetic  # every demo variant stays synthetic


def test_a_demo_trained_model_never_serves_real_data_even_under_the_real_name(history):
    """Registered by hand under the real-data name and made champion, it is still refused for real data."""
    import mlflow

    better = history["steps"]["better"]
    real_name = registered_name("us_sectors", REAL)
    mv = mlflow.register_model(f"runs:/{better['run_id']}/forecaster", real_name)
    client().set_registered_model_alias(real_name, CHAMPION, mv.version)
    try:
        model, reason = load_champion("us_sectors", REAL, history["store"], EXPERIMENT)
        assert model is None and reason.startswith("refused") and "synthetic" in reason, reason
        ok, why = load_champion("us_sectors", DEMO, history["store"], EXPERIMENT)  # where it belongs, it serves
        assert ok is not None and why == "ok"
    finally:
        client().delete_registered_model(real_name)
