"""SectorForecaster: what serving loads. Round trip, input checks, and the shape of its promises."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from model_builders import HORIZON, PLANTED

from training.forecaster import SectorForecaster

LAST_DATES = 120  # sessions predicted in these tests


@pytest.fixture(scope="module")
def fitted(trained):
    result = trained(PLANTED, 2)
    table = result.dataset.features
    recent = table[table.index.get_level_values("date") >= result.dataset.panels.dates[-LAST_DATES]]
    return result, recent


def as_rank_model(fc: SectorForecaster, slope: float = 0.01) -> SectorForecaster:
    """The same boosters read as a lambdarank score: exercises the per-date z-score * slope path."""
    horizons = {h: dataclasses.replace(hm, kind="rank", slope=slope) for h, hm in fc.horizons.items()}
    out = dataclasses.replace(fc, horizons=horizons)
    out._boosters = fc._boosters
    return out


@pytest.fixture(params=["regression", "rank"])
def forecaster(request, fitted):
    fc = fitted[0].forecaster
    return fc if request.param == "regression" else as_rank_model(fc)


def test_save_load_round_trip_predicts_identically(fitted, tmp_path):
    result, table = fitted
    fc = result.forecaster
    before = fc.predict(table)
    fc.save(tmp_path / "bundle", result.boosters)
    loaded = SectorForecaster.load(tmp_path / "bundle")
    pd.testing.assert_frame_equal(loaded.predict(table), before, check_exact=True)
    assert loaded.feature_names == fc.feature_names
    assert loaded.training_window == fc.training_window
    assert loaded.horizons[HORIZON].residuals == fc.horizons[HORIZON].residuals
    assert set(before.columns) == {
        f"{c}_{HORIZON}" for c in ("pred", "lower", "upper", "prob_outperform", "rank", "score")
    }


def test_regression_prediction_is_the_shrunk_booster_plus_offset(fitted):
    result, table = fitted
    fc = result.forecaster
    hm = fc.horizons[HORIZON]
    assert 0.0 < hm.shrink < 1.0  # a planted signal: real skill, still shrunk by its uncertainty
    raw = result.boosters[HORIZON].predict(table[fc.feature_names].to_numpy(dtype="float64"))
    out = fc.predict(table)
    np.testing.assert_allclose(out[f"pred_{HORIZON}"], hm.shrink * raw + hm.offset, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out[f"score_{HORIZON}"], raw, rtol=0, atol=1e-12)


def test_missing_features_raise_a_value_error_naming_them(fitted):
    result, table = fitted
    gone = ["rel_ret_3m", "volume_growth_1w"]
    assert all(g in result.forecaster.feature_names for g in gone)
    with pytest.raises(ValueError) as err:
        result.forecaster.predict(table.drop(columns=gone))
    assert all(g in str(err.value) for g in gone)


def test_extra_and_reordered_columns_do_not_change_predictions(fitted):
    result, table = fitted
    fc = result.forecaster
    shuffled = table[list(reversed(table.columns))].assign(something_else=1.0)
    pd.testing.assert_frame_equal(fc.predict(shuffled), fc.predict(table))


def test_interval_brackets_the_prediction(forecaster, fitted):
    out = forecaster.predict(fitted[1])
    lo, pred, hi = (out[f"{c}_{HORIZON}"] for c in ("lower", "pred", "upper"))
    assert (lo <= pred).all() and (pred <= hi).all() and (lo < hi).all()


def test_probability_is_in_0_1_monotone_in_pred_per_scale_and_matches_the_residuals(forecaster, fitted):
    out = forecaster.predict(fitted[1])
    pred, prob = out[f"pred_{HORIZON}"].to_numpy(), out[f"prob_outperform_{HORIZON}"].to_numpy()
    assert ((prob >= 0) & (prob <= 1)).all()
    hm = forecaster.horizons[HORIZON]
    assert hm.scaled
    # independently: the share of out-of-sample scaled residuals e with pred + e x (relative vol x sqrt(h)) > 0
    scale = fitted[1]["rel_vol_21d"].to_numpy() / np.sqrt(252) * np.sqrt(hm.sessions)
    order = np.argsort(pred / scale, kind="stable")
    assert (np.diff(prob[order]) >= 0).all()
    assert prob.min() < prob.max()  # not a constant: the test can fail
    res = np.asarray(hm.residuals)
    by_hand = (pred[:, None] + scale[:, None] * res[None, :] > 0).mean(axis=1)
    np.testing.assert_allclose(prob, by_hand, atol=1e-12)


def test_ranks_are_1_to_n_per_date_best_first(forecaster, fitted):
    out = forecaster.predict(fitted[1])
    for day, g in out.groupby(level="date"):
        ranks = g[f"rank_{HORIZON}"].sort_values().to_numpy()
        np.testing.assert_array_equal(ranks, np.arange(1, len(g) + 1), err_msg=str(day))
        assert g[f"rank_{HORIZON}"].idxmin() == g[f"score_{HORIZON}"].idxmax()


def test_one_date_indexed_by_sector_gets_ranks_too(forecaster, fitted):
    table = fitted[1]
    last = table.xs(table.index.get_level_values("date").max(), level="date")
    out = forecaster.predict(last)
    assert sorted(out[f"rank_{HORIZON}"]) == list(range(1, len(last) + 1))


def test_rank_model_predictions_average_to_the_offset_each_date(fitted):
    fc = as_rank_model(fitted[0].forecaster)
    out = fc.predict(fitted[1])
    means = out[f"pred_{HORIZON}"].groupby(level="date").mean()
    np.testing.assert_allclose(means, fc.horizons[HORIZON].offset, atol=1e-12)


def test_skill_needs_an_interval_above_zero_and_enough_independent_periods():
    from training.train import MIN_INDEPENDENT_PERIODS, skill_card

    strong = {"rank_ic_mean": 0.05, "rank_ic_ci_low": 0.01, "rank_ic_ci_high": 0.09, "n_dates": 400.0}
    assert skill_card(strong, overlap=5)["significant"]  # 80 independent periods
    few = dict(strong, n_dates=float(MIN_INDEPENDENT_PERIODS * 13 - 13))
    assert not skill_card(few, overlap=13)["significant"]  # 3M labels over ~2 years
    assert not skill_card(dict(strong, rank_ic_ci_low=-0.01), overlap=1)["significant"]
