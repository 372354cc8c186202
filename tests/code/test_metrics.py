"""Metrics checked against independent per-date loops (scipy, sets, plain formulas)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from training.metrics import (
    block_bootstrap_ci,
    hit_rate,
    ic_by_date,
    interval_coverage,
    newey_west_tstat,
    rank_autocorrelation,
    summarise_ic,
    summarise_series,
    top_bottom_spread,
    top_k_turnover,
)

SECTORS = [f"S{i:02d}" for i in range(11)]


def make_scores(n_dates=60, signal=0.0, nan_frac=0.1, seed=1) -> pd.DataFrame:
    """Random (date, sector) frame; label = signal * score + noise, with NaNs sprinkled in."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_dates, freq="5B")
    idx = pd.MultiIndex.from_product([dates, SECTORS], names=["date", "sector"])
    score = rng.normal(size=len(idx))
    label = signal * score + rng.normal(size=len(idx))
    df = pd.DataFrame({"score": score, "label": label}, index=idx)
    df.loc[rng.random(len(df)) < nan_frac, "score"] = np.nan
    df.loc[rng.random(len(df)) < nan_frac, "label"] = np.nan
    return df


def with_edge_dates(df: pd.DataFrame) -> pd.DataFrame:
    """Add a date with only 2 valid sectors and one with a constant score: both must be dropped."""
    d1, d2 = pd.Timestamp("2030-01-01"), pd.Timestamp("2030-01-08")
    few = pd.DataFrame(
        {"score": [1.0, 2.0, np.nan, 4.0], "label": [0.1, 0.2, 0.3, np.nan]},
        index=pd.MultiIndex.from_product([[d1], SECTORS[:4]]),
    )
    flat = pd.DataFrame(
        {"score": [0.5] * 5, "label": [0.1, -0.2, 0.3, 0.0, 0.05]},
        index=pd.MultiIndex.from_product([[d2], SECTORS[:5]]),
    )
    return pd.concat([df, few, flat])


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_ic_by_date_matches_scipy_loop(method):
    df = with_edge_dates(make_scores())
    ic = ic_by_date(df, method=method)
    ref = {}
    for date, g in df.groupby(level=0):
        g = g.dropna()
        if len(g) < 3 or g["score"].nunique() < 2 or g["label"].nunique() < 2:
            continue
        fn = stats.spearmanr if method == "spearman" else stats.pearsonr
        ref[date] = fn(g["score"], g["label"])[0]
    ref = pd.Series(ref)
    assert len(ic) == len(ref) == 60  # both edge dates dropped
    np.testing.assert_allclose(ic.to_numpy(), ref.loc[ic.index].to_numpy(), atol=1e-12)


def test_rank_ic_handles_ties_like_scipy():
    idx = pd.MultiIndex.from_product([[pd.Timestamp("2021-01-04")], SECTORS[:6]])
    df = pd.DataFrame({"score": [1, 1, 2, 3, 3, 3.0], "label": [0.5, 0.1, 0.1, 0.9, 0.2, 0.3]}, index=idx)
    assert ic_by_date(df).iloc[0] == pytest.approx(stats.spearmanr(df["score"], df["label"])[0], abs=1e-12)


def test_perfect_foresight_gives_ic_one_positive_spread_full_hits():
    df = make_scores(nan_frac=0.0)
    df["score"] = df["label"] * 3.0 + 1.0  # monotone in the label
    assert np.allclose(ic_by_date(df), 1.0)
    assert np.allclose(ic_by_date(df, method="pearson"), 1.0)
    assert (top_bottom_spread(df, k=3) > 0).all()
    assert hit_rate(df) == 1.0
    anti = df.assign(score=-df["score"])
    assert np.allclose(ic_by_date(anti), -1.0) and hit_rate(anti) == 0.0


def test_ic_rejects_bad_input():
    df = make_scores(n_dates=3)
    with pytest.raises(ValueError, match="method"):
        ic_by_date(df, method="kendall")
    with pytest.raises(ValueError, match="label"):
        ic_by_date(df.drop(columns="label"))
    with pytest.raises(ValueError, match="duplicated"):
        ic_by_date(pd.concat([df, df.iloc[:2]]))


def test_top_bottom_spread_matches_sort_loop():
    df = make_scores(nan_frac=0.3, seed=4)
    got = top_bottom_spread(df, k=3)
    ref = {}
    for date, g in df.groupby(level=0):
        g = g.dropna()
        if len(g) < 6:
            continue
        order = g.sort_values("score")["label"].to_numpy()
        ref[date] = order[-3:].mean() - order[:3].mean()
    ref = pd.Series(ref)
    assert len(ref) > 20 and set(got.index) == set(ref.index)
    np.testing.assert_allclose(got.to_numpy(), ref.loc[got.index].to_numpy(), atol=1e-12)


def test_hit_rate_matches_row_loop():
    df = make_scores(signal=0.5, seed=5)
    hits = calls = 0
    for _, g in df.groupby(level=0):
        g = g.dropna()
        for s, y in zip(g["score"] - g["score"].mean(), g["label"] - g["label"].mean()):
            if s != 0 and y != 0:
                calls += 1
                hits += (s > 0) == (y > 0)
    assert hit_rate(df) == pytest.approx(hits / calls, abs=1e-12)
    assert hit_rate(df) > 0.55  # a planted signal shows


def test_rank_autocorrelation_matches_scipy_on_common_sectors():
    df = make_scores(nan_frac=0.2, seed=6)
    got = rank_autocorrelation(df)
    dates = df.index.get_level_values(0).unique().sort_values()
    ref = {}
    for prev, cur in zip(dates[:-1], dates[1:]):
        a, b = df.loc[prev, "score"], df.loc[cur, "score"]
        common = a.dropna().index.intersection(b.dropna().index)
        if len(common) >= 3:
            ref[cur] = stats.spearmanr(a[common], b[common])[0]
    ref = pd.Series(ref)
    assert len(ref) >= 50 and set(got.index) == set(ref.index)  # pairs with < 3 common sectors dropped
    np.testing.assert_allclose(got.to_numpy(), ref.loc[got.index].to_numpy(), atol=1e-12)
    frozen = df.assign(score=np.tile(np.arange(11.0), 60))  # same ranking every date
    assert np.allclose(rank_autocorrelation(frozen), 1.0)


def test_top_k_turnover_matches_set_loop():
    df = make_scores(nan_frac=0.0, seed=7)
    dates = df.index.get_level_values(0).unique().sort_values()
    tops = [set(df.loc[d, "score"].nlargest(3).index) for d in dates]
    ref = np.mean([len(cur - prev) / 3 for prev, cur in zip(tops[:-1], tops[1:])])
    assert top_k_turnover(df, k=3) == pytest.approx(ref, abs=1e-12)
    frozen = df.assign(score=np.tile(np.arange(11.0), 60))
    assert top_k_turnover(frozen, k=3) == 0.0


def test_interval_coverage_by_hand():
    y = [0.0, 1.0, 2.0, np.nan, 5.0]
    lo = [-1.0, 1.5, 2.0, 0.0, 0.0]
    hi = [1.0, 2.0, 3.0, 1.0, 4.0]
    assert interval_coverage(y, lo, hi) == pytest.approx(2 / 4)  # rows 0 and 2 (closed) inside
    with pytest.raises(ValueError, match="lower > upper"):
        interval_coverage([0.0], [1.0], [0.0])
    with pytest.raises(ValueError, match="lengths"):
        interval_coverage([0.0, 1.0], [0.0], [1.0])


def hac_tstat_reference(x, lags):
    """Textbook Newey-West written out with explicit loops."""
    n, m = len(x), sum(x) / len(x)
    e = [v - m for v in x]
    s = sum(v * v for v in e) / n
    for j in range(1, lags + 1):
        gamma = sum(e[t] * e[t - j] for t in range(j, n)) / n
        s += 2 * (1 - j / (lags + 1)) * gamma
    return m / (s / n) ** 0.5


def test_newey_west_matches_loop_and_reduces_to_plain_t():
    x = np.random.default_rng(8).normal(0.1, 1.0, 300)
    for lags in (0, 1, 5, 13):
        assert newey_west_tstat(x, lags) == pytest.approx(hac_tstat_reference(list(x), lags), rel=1e-10)
    plain = x.mean() / (x.std(ddof=0) / np.sqrt(len(x)))
    assert newey_west_tstat(x, 0) == pytest.approx(plain, rel=1e-12)


def overlapping_series(n, overlap, seed, drift=0.0):
    """Per-date value = sum of `overlap` consecutive iid shocks, like an IC on overlapping labels."""
    shocks = np.random.default_rng(seed).normal(size=n + overlap)
    return pd.Series(drift + np.convolve(shocks, np.ones(overlap), "valid")[:n] / np.sqrt(overlap))


def test_summarise_ic_keys_and_plain_moments():
    ic = overlapping_series(400, 5, seed=9, drift=0.05)
    out = summarise_ic(ic, overlap=5)
    assert set(out) == {"mean", "std", "icir", "t_stat", "ci_low", "ci_high", "n", "block_length"}
    assert out["mean"] == pytest.approx(ic.mean()) and out["std"] == pytest.approx(ic.std(ddof=1))
    assert out["icir"] == pytest.approx(ic.mean() / ic.std(ddof=1))
    assert out["t_stat"] == pytest.approx(hac_tstat_reference(list(ic), 5), rel=1e-10)
    assert out["n"] == 400 and out["block_length"] == 5
    assert out["ci_low"] < out["mean"] < out["ci_high"]
    assert summarise_ic(pd.concat([ic, pd.Series([np.nan])]), overlap=5)["n"] == 400  # NaN ignored
    assert summarise_series(ic, overlap=13)["block_length"] == 13  # block follows the overlap


def test_bootstrap_interval_covers_zero_for_random_scores_in_most_seeds():
    covered = 0
    for seed in range(40):
        ic = ic_by_date(make_scores(n_dates=120, seed=100 + seed))
        out = summarise_ic(ic, overlap=1, seed=seed)
        covered += out["ci_low"] <= 0.0 <= out["ci_high"]
    assert covered >= 30  # nominal 90 %: 36 of 40 expected, 30 is a wide margin


def test_bootstrap_excludes_zero_for_real_skill():
    ic = ic_by_date(make_scores(n_dates=200, signal=0.5, seed=11))
    out = summarise_ic(ic, overlap=1)
    assert out["ci_low"] > 0 and out["t_stat"] > 3


def test_block_bootstrap_widens_for_overlapping_values():
    """With 13-fold overlap an iid bootstrap (block 1) is ~sqrt(13) too narrow; the block one is not."""
    widths_iid, widths_block = [], []
    for seed in range(10):
        x = overlapping_series(1200, 13, seed=seed).to_numpy()
        lo, hi = block_bootstrap_ci(x, block=1, seed=seed)
        widths_iid.append(hi - lo)
        lo, hi = block_bootstrap_ci(x, block=13, seed=seed)
        widths_block.append(hi - lo)
    # true sd of the mean of an MA(12) with unit variance: sqrt(13 / n) (long-run variance 13)
    expected_width = 2 * 1.645 * np.sqrt(13 / 1200)
    assert np.mean(widths_block) > 2.5 * np.mean(widths_iid)
    assert 0.6 * expected_width < np.mean(widths_block) < 1.3 * expected_width


def test_bootstrap_is_seeded_and_fast():
    x = overlapping_series(1200, 13, seed=3)
    assert summarise_ic(x, overlap=13, seed=1) == summarise_ic(x, overlap=13, seed=1)
    summarise_ic(x, overlap=13)  # warm-up
    t0 = time.perf_counter()
    for _ in range(5):
        summarise_ic(x, overlap=13)
    assert (time.perf_counter() - t0) / 5 < 0.05


def test_summary_rejects_bad_parameters():
    x = overlapping_series(50, 2, seed=0)
    with pytest.raises(ValueError, match="ci"):
        summarise_ic(x, overlap=2, ci=1.5)
    with pytest.raises(ValueError, match="overlap"):
        summarise_ic(x, overlap=-1)
