"""One YAML file configures every layer; mistakes are named, not ignored."""
from __future__ import annotations

import pytest

from features.config import FeatureConfig
from features.settings import read_section
from training.config import TrainConfig


def test_sections_override_defaults(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("features:\n  neutral_threshold_pp: 1.0\n  trend_windows: [20, 100]\n"
                   "training:\n  num_boost_round: 7\n  lgbm_params: {num_leaves: 3}\n")
    f = FeatureConfig.from_mapping(read_section(cfg, "features"))
    t = TrainConfig.from_mapping(read_section(cfg, "training"))
    assert f.neutral_threshold_pp == 1.0 and f.trend_windows == (20, 100)
    assert t.num_boost_round == 7 and t.lgbm_params["num_leaves"] == 3
    assert t.lgbm_params["learning_rate"] == TrainConfig().lgbm_params["learning_rate"]  # merged, not replaced
    assert read_section(None, "training") == {}


@pytest.mark.parametrize("text, match", [
    ("features:\n  neutral_threshold: 1\n", "unknown setting.*neutral_threshold"),
    ("feature:\n  x: 1\n", "unknown section.*feature"),
    ("features: [1, 2]\n", "must be a mapping"),
    ("features: {a: [\n", "not valid YAML"),
])
def test_mistakes_are_named(tmp_path, text, match):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ValueError, match=match):
        FeatureConfig.from_mapping(read_section(cfg, "features"))


def test_training_config_checks_its_own_consistency():
    with pytest.raises(ValueError, match="primary_horizon"):
        TrainConfig.from_mapping({"horizons": {"1W": 5}})
    with pytest.raises(ValueError, match="objective"):
        TrainConfig.from_mapping({"objectives": ["xgboost"]})


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        read_section(tmp_path / "nope.yaml", "features")
