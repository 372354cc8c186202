"""The DESIGN's guards against fooling ourselves, on demo markets whose truth is known.

* null audit: a driftless random walk must show no out-of-sample skill (a look-ahead leak would);
* the audit has teeth: the same market with a leaked feature does show "skill";
* planted signal: a known signal is recovered, and never better than the oracle that knows it;
* shuffled labels: permuting labels across sectors on each date removes all skill;
* causality: the walk-forward's out-of-sample rows never depend on data after their date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_builders import (
    END,
    HORIZON,
    MODEL,
    PLANTED,
    YEARS,
    demo_loaded,
    rank_ic_by_date,
    shuffle_within_dates,
    small_config,
)

from features.dataset import MarketDataset
from features.sources.demo import demo_latent
from training.scoring import horizon_backtest
from training.train import train
from training.walkforward import run_walk_forward

NULL_SEEDS = (1, 2, 3)
PLANTED_SEED = 2
MAX_NULL_T = 2.0  # |t| of the backtest's mean active return vs equal weight: ~95% two-sided under the null
POOLED_NULL_IC = 0.03  # |mean rank IC| over the null seeds (each seed's sd is ~0.025)
MIN_RECOVERED_SHARE = 0.25  # the model sees z only through noisy proxies, but must get a fair share of it
ORACLE_SLACK = 0.03  # beating the oracle that knows z by more than noise means a leak


def ic(result, model: str = MODEL) -> tuple[float, float, float]:
    m = result.horizons[HORIZON].metrics[model]
    return m["rank_ic_mean"], m["rank_ic_ci_low"], m["rank_ic_ci_high"]


def show(name: str, result, model: str = MODEL) -> str:
    m = result.horizons[HORIZON].metrics[model]
    text = (
        f"{name}: rank IC {m['rank_ic_mean']:+.3f} [{m['rank_ic_ci_low']:+.3f}, {m['rank_ic_ci_high']:+.3f}], "
        f"spread {m['spread_mean']:+.4f} [{m['spread_ci_low']:+.4f}, {m['spread_ci_high']:+.4f}], "
        f"{m['n_dates']:.0f} dates"
    )
    print(text)
    return text


def backtest_t(result, model: str = MODEL) -> float:
    """t-stat of the top-3 rotation's daily return over the equal-weight basket, rebuilt from the OOS scores.

    Equal weight, not the benchmark: the demo benchmark is a fixed log-return mix, which any
    rebalanced basket beats by a volatility bonus that has nothing to do with forecasting.
    """
    scores = result.horizons[HORIZON].walk_forward.scores(model)
    bt = horizon_backtest(scores, result.dataset, HORIZON, result.cfg)
    active = bt.returns - bt.equal_weight
    return float(active.mean() / active.std(ddof=1) * np.sqrt(len(active)))


# ---------------------------------------------------------------- null audit
@pytest.mark.parametrize("seed", NULL_SEEDS)
def test_null_market_shows_no_skill(trained, seed):
    result = trained(0.0, seed)
    text = show(f"null seed {seed}", result)
    mean, lo, hi = ic(result)
    assert lo <= 0.0 <= hi, f"skill found on a random walk (look-ahead leak?): {text}"
    m = result.horizons[HORIZON].metrics[MODEL]
    assert m["spread_ci_low"] <= 0.0 <= m["spread_ci_high"], text
    t = backtest_t(result)
    print(f"null seed {seed}: rotation vs equal weight t = {t:+.2f}")
    assert abs(t) < MAX_NULL_T, f"backtest excess on a random walk: t={t:+.2f}"
    # and the card says so
    assert result.forecaster.horizons[HORIZON].skill["significant"] is False


def test_null_seeds_pooled_mean_rank_ic_is_near_zero(trained):
    means = [ic(trained(0.0, s))[0] for s in NULL_SEEDS]
    assert abs(np.mean(means)) < POOLED_NULL_IC, means


def test_null_audit_has_teeth_a_leaked_feature_shows_up_as_skill(loaded_market):
    """Same random walk plus one look-ahead feature (the next week's relative return): the audit must trip."""
    loaded = loaded_market(0.0, NULL_SEEDS[0])
    table = loaded.features.copy()
    table["leaked_next_week"] = loaded.labels({"1W": 5})["label_1W"].reindex(table.index)
    result = train(loaded.with_features(table), small_config())
    text = show("null + leaked feature", result)
    assert ic(result)[1] > 0.0, f"the null audit would miss a one-week look-ahead: {text}"


# ---------------------------------------------------------------- planted signal
def test_planted_signal_is_recovered_but_not_beyond_the_oracle(trained):
    result = trained(PLANTED, PLANTED_SEED)
    text = show(f"planted {PLANTED} seed {PLANTED_SEED}", result)
    mean, lo, hi = ic(result)
    assert lo > 0.0, f"planted signal not found: {text}"
    # the metric really is the mean per-date rank IC of the out-of-sample rows
    oos = result.horizons[HORIZON].walk_forward.oos
    by_hand = rank_ic_by_date(oos, f"score_{MODEL}")
    assert by_hand.mean() == pytest.approx(mean, abs=1e-9)
    # the oracle: the latent score itself, on the same rows
    z = demo_latent(years=YEARS, signal=PLANTED, seed=PLANTED_SEED, end=END).z.stack()
    z.index.names = ["date", "sector"]
    oracle = rank_ic_by_date(pd.DataFrame({"score": z.reindex(oos.index), "label": oos["label"]})).mean()
    print(f"planted: model rank IC {mean:+.3f} vs oracle {oracle:+.3f} on the same rows (target {PLANTED})")
    assert MIN_RECOVERED_SHARE * PLANTED <= mean <= oracle + ORACLE_SLACK, text
    m = result.horizons[HORIZON].metrics[MODEL]
    assert m["spread_ci_low"] > 0.0, text
    assert backtest_t(result) > MAX_NULL_T
    assert result.forecaster.horizons[HORIZON].skill["significant"] is True
    assert mean > result.horizons[HORIZON].metrics["zero"]["rank_ic_mean"]


def test_shuffled_labels_remove_the_skill(loaded_market, trained, monkeypatch):
    """Permute the labels across sectors on each date: what the model 'learns' then cannot generalise."""
    real = MarketDataset.labels
    monkeypatch.setattr(MarketDataset, "labels", lambda ds, horizons: shuffle_within_dates(real(ds, horizons)))
    result = train(loaded_market(PLANTED, PLANTED_SEED), small_config())
    text = show("planted, labels shuffled within dates", result)
    mean, lo, hi = ic(result)
    assert lo <= 0.0 <= hi, f"skill survived shuffled labels: {text}"
    assert ic(trained(PLANTED, PLANTED_SEED))[1] > 0.0  # while the same market unshuffled has skill


# ---------------------------------------------------------------- causality
CAUSAL_YEARS = 12  # 2012-07 .. 2024-06: test years 2017..2024
TRUNCATE_AT = pd.Timestamp("2021-06-30")
THREE_MONTHS = pd.DateOffset(months=3)


def walk_forward(ds: MarketDataset, cfg):
    label = ds.labels(cfg.horizons)[f"label_{HORIZON}"]
    return run_walk_forward(ds.features, label, ds.panels.dates, HORIZON, cfg)


@pytest.fixture(scope="module")
def causal():
    """Full, truncated and future-altered walk-forwards (both objectives: the rank slope is calibrated too)."""
    loaded = demo_loaded(PLANTED, PLANTED_SEED, years=CAUSAL_YEARS)
    cfg = small_config(objectives=("regression", "rank"))
    p = loaded.panels
    cut = p.dates[p.dates.year == 2019][4]  # a few sessions into a test year: where purging matters most
    bars = loaded.bars.copy()
    after = bars["date"] > cut
    shock = np.exp(np.random.default_rng(0).normal(0.0, 0.05, int(after.sum())))
    for col in ("open", "high", "low", "close"):
        bars.loc[after, col] = bars.loc[after, col] * shock
    altered = MarketDataset.from_bars(bars, loaded.universe, loaded.source)
    return dict(
        full=walk_forward(loaded, cfg),
        truncated=walk_forward(loaded.upto(TRUNCATE_AT), cfg),
        altered=walk_forward(altered, cfg),
        cut=cut,
    )


def test_truncated_data_gives_identical_out_of_sample_rows(causal):
    full, trunc = causal["full"].oos, causal["truncated"].oos
    dates = lambda o: o.index.get_level_values("date")  # noqa: E731
    assert dates(full).max() > TRUNCATE_AT  # the full run really saw more
    early = [f for f in causal["truncated"].folds if f.test_end < TRUNCATE_AT - THREE_MONTHS]
    assert len(early) >= 3
    for f in early:
        a = full[(dates(full) >= f.test_start) & (dates(full) <= f.test_end)]
        b = trunc[(dates(trunc) >= f.test_start) & (dates(trunc) <= f.test_end)]
        assert len(b) > 0
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # every row the truncated run produced (the partial last year too) is the full run's row
    pd.testing.assert_frame_equal(trunc, full.loc[trunc.index, trunc.columns], check_exact=True)


def test_changing_the_future_changes_no_earlier_prediction(causal):
    """Scores, return forecasts, intervals and probabilities dated <= cut use nothing after cut."""
    cut, full, alt = causal["cut"], causal["full"].oos, causal["altered"].oos
    before = lambda o: o[o.index.get_level_values("date") <= cut].drop(columns="label")  # noqa: E731
    a, b = before(full), before(alt)
    in_year = a[a.index.get_level_values("date").year == cut.year]
    assert len(in_year) > 0
    for col in ("pred_lgbm_rank", "lower_lgbm_regression", "upper_lgbm_rank", "prob_lgbm_rank"):
        assert in_year[col].notna().all(), col  # the calibrated columns exist there, so they are compared
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    later = lambda o: o[o.index.get_level_values("date") > cut]  # noqa: E731
    assert not np.allclose(later(full)["label"], later(alt).reindex(later(full).index)["label"])
