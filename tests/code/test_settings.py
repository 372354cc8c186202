"""One YAML file configures every layer; it is read once, and mistakes are named, not ignored."""

from __future__ import annotations

import pytest

from features.config import FeatureConfig
from features.errors import ConfigError
from features.settings import ConfigFile
from training.config import TrainConfig


def read(tmp_path, text: str) -> ConfigFile:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    return ConfigFile.read(cfg)


def test_sections_override_defaults(tmp_path):
    cf = read(
        tmp_path,
        "features:\n  neutral_threshold_pp: 1.0\n  trend_windows: [20, 100]\n"
        "training:\n  num_boost_round: 7\n  lgbm_params: {num_leaves: 3}\n",
    )
    f = FeatureConfig.from_mapping(cf.section("features"))
    t = TrainConfig.from_mapping(cf.section("training"))
    assert f.neutral_threshold_pp == 1.0 and f.trend_windows == (20, 100)
    assert t.num_boost_round == 7 and t.lgbm_params["num_leaves"] == 3
    assert t.lgbm_params["learning_rate"] == TrainConfig().lgbm_params["learning_rate"]  # merged, not replaced
    assert ConfigFile.read(None).section("training") == {}


def test_every_promised_setting_is_settable(tmp_path):
    """Demo knobs, the download deadline, validation thresholds and the former magic numbers."""
    cf = read(
        tmp_path,
        "features:\n  download_deadline_s: 5\n  demo: {seed: 3, years: 4}\n"
        "  validation: {split_tolerance: 0.05, split_ratios: [[2, 1], [3, 1]]}\n"
        "  volume_month_windows: [10, 60]\n  adosc_periods: [2, 8]\n  adosc_norm_window: [10, 3]\n"
        "  updown_window: 10\n  context_window: 10\n  sessions_per_year: 250\n",
    )
    f = FeatureConfig.from_mapping(cf.section("features"))
    assert f.download_deadline_s == 5 and f.demo.seed == 3 and f.demo.years == 4 and f.demo.signal == 0.0
    assert f.validation.split_tolerance == 0.05 and f.validation.split_ratios == ((2, 1), (3, 1))
    assert (f.volume_month_windows, f.adosc_periods, f.adosc_norm_window) == ((10, 60), (2, 8), (10, 3))
    assert (f.updown_window, f.context_window, f.sessions_per_year) == (10, 10, 250)


@pytest.mark.parametrize(
    "text, match",
    [
        ("features:\n  neutral_threshold: 1\n", "unknown setting.*neutral_threshold"),
        ("features:\n  demo: {seeds: 1}\n", "features.demo config: unknown setting.*seeds"),
        ("features:\n  validation: {split_tol: 1}\n", "features.validation config: unknown setting.*split_tol"),
        ("feature:\n  x: 1\n", "unknown section.*feature"),
        ("features: [1, 2]\n", "must be a mapping"),
        ("features: {a: [\n", "not valid YAML"),
    ],
)
def test_mistakes_are_named(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        FeatureConfig.from_mapping(read(tmp_path, text).section("features"))


def test_training_config_checks_its_own_consistency():
    with pytest.raises(ConfigError, match="primary_horizon"):
        TrainConfig.from_mapping({"horizons": {"1W": 5}})
    with pytest.raises(ConfigError, match="objective"):
        TrainConfig.from_mapping({"objectives": ["xgboost"]})


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ConfigFile.read(tmp_path / "nope.yaml")


def test_a_command_reads_the_file_once(tmp_path, monkeypatch):
    from features.settings import yaml as settings_yaml
    from serving.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("features:\n  neutral_threshold_pp: 0.5\n")
    calls = []
    real = settings_yaml.safe_load
    mine = "neutral_threshold_pp"  # the universe file is YAML too: count only this file's reads
    monkeypatch.setattr(settings_yaml, "safe_load", lambda text: (mine in str(text) and calls.append(1)) or real(text))
    assert main(["matrix", "--source", "demo:years=2", "--config", str(cfg), "--format", "csv"]) == 0
    assert len(calls) == 1
