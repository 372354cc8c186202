"""Health score pieces, each checked against a hand or scipy computation."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from serving.config import ServingConfig
from serving.health_score import (
    NA_COLOR,
    base_weights,
    health_scores,
    score_color,
    skill_factor,
    skill_sentence,
)


def test_score_by_hand():
    inputs = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [3.0, 2.0, 1.0], "z": [np.nan, 1.0, 2.0]}, index=list("ABC"))
    res = health_scores(inputs, {"a": ("x",), "b": ("y", "z")}, {"a": 0.6, "b": 0.4})
    # x -> 0, 50, 100; y -> 100, 50, 0; z -> nan, 0, 100; b = mean(y, z) = 100, 25, 50
    np.testing.assert_allclose(res.components["b"], [100, 25, 50])
    np.testing.assert_allclose(res.scores, [0.6 * 0 + 0.4 * 100, 0.6 * 50 + 0.4 * 25, 0.6 * 100 + 0.4 * 50])
    np.testing.assert_allclose(res.weights.sum(axis=1), 1.0)


def test_missing_component_is_renormalised_not_zero():
    inputs = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [np.nan, 2.0, 1.0]}, index=list("ABC"))
    res = health_scores(inputs, {"a": ("x",), "b": ("y",)}, {"a": 0.25, "b": 0.75})
    assert np.isnan(res.components.loc["A", "b"])
    assert res.weights.loc["A"].tolist() == [1.0, 0.0]
    assert res.scores["A"] == 0.0  # only x counts: A is the weakest on x
    np.testing.assert_allclose(res.weights.loc["B"], [0.25, 0.75])
    np.testing.assert_allclose(res.scores["B"], 0.25 * 50 + 0.75 * 100)


def test_no_component_at_all_gives_no_score():
    res = health_scores(pd.DataFrame({"x": [np.nan, 1.0]}, index=["A", "B"]), {"a": ("x",)}, {"a": 1.0})
    assert np.isnan(res.scores["A"]) and res.scores["B"] == 50.0


def _skill(mean, lo, hi, sig):
    return {"rank_ic_mean": mean, "rank_ic_ci_low": lo, "rank_ic_ci_high": hi, "significant": sig}


@pytest.mark.parametrize(
    "skill, expected",
    [
        (None, 0.0),
        ({}, 0.0),
        (_skill(0.03, -0.01, 0.07, False), 0.0),  # CI includes 0, not significant
        (_skill(0.03, -0.01, 0.07, True), 0.0),  # flagged significant but the interval includes 0
        (_skill(0.05, 0.02, 0.08, False), 0.0),  # interval above 0 but the card says not significant
        (_skill(-0.05, -0.08, -0.02, True), 0.0),  # significantly worse than chance
        (_skill(0.05, 0.02, 0.08, True), 0.5),
        (_skill(0.05, 0.02, 0.08, np.True_), 0.5),
        (_skill(0.25, 0.10, 0.40, True), 1.0),  # capped
        (_skill(0.05, None, 0.08, True), 0.0),  # unknown interval
        (_skill(0.05, 0.02, 0.08, 1), 0.0),  # must be a real boolean
    ],
)
def test_skill_factor(skill, expected):
    assert skill_factor(skill, 0.10) == pytest.approx(expected)


def test_skill_sentence_is_plain_words():
    s = skill_sentence("1M", _skill(0.03, -0.01, 0.07, False))
    assert s == "1M rank IC 0.03 [\u22120.01, 0.07]: not distinguishable from zero"
    assert "distinguishable from zero (positive)" in skill_sentence("1W", _skill(0.05, 0.02, 0.08, True))
    assert "no out-of-sample skill" in skill_sentence("3M", None)


def test_base_weights_zero_predicted_keeps_descriptive_proportions():
    w = {"rs": 0.35, "trend": 0.2, "predicted": 0.2}
    got = base_weights(w, 0.0)
    assert got["predicted"] == 0.0
    assert sum(got.values()) == pytest.approx(1.0)
    assert got["rs"] / got["trend"] == pytest.approx(0.35 / 0.2)
    half = base_weights(w, 0.5)
    assert half["predicted"] == pytest.approx(0.1 / 0.65)


def test_score_color_scale():
    stops = ServingConfig().color_stops
    assert score_color(0, stops) == stops[0][1]
    assert score_color(50, stops) == stops[1][1]
    assert score_color(100, stops) == stops[2][1]
    assert score_color(150, stops) == stops[2][1]  # clipped
    assert score_color(None, stops) == NA_COLOR and score_color(float("nan"), stops) == NA_COLOR
    # 25 is half way between red (d7,30,27) and yellow (fe,e0,8b), channel by channel
    mid = [round((a + b) / 2) for a, b in zip((0xD7, 0x30, 0x27), (0xFE, 0xE0, 0x8B))]
    assert score_color(25, stops) == "#" + "".join(f"{c:02x}" for c in mid)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", score_color(s, stops)) for s in range(0, 101, 7))


def test_serving_config_checks_itself():
    with pytest.raises(ValueError, match="health_weights"):
        ServingConfig(health_weights={"relative_strength": 1.0})
    with pytest.raises(ValueError, match="colour_stops"):
        ServingConfig.from_mapping({"colour_stops": []})
    cfg = ServingConfig.from_mapping({"stale_sessions": 5, "timeframes": ["1D", "1W", "1M", "3M"]})
    assert cfg.stale_sessions == 5 and cfg.timeframes == ("1D", "1W", "1M", "3M")
