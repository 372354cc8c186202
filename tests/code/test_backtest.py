"""Rotation backtest checked against hand arithmetic and look-ahead traps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.backtest import rotation_backtest

D = pd.bdate_range("2024-01-01", periods=7)  # d0..d6, Mon 1 Jan .. Tue 9 Jan 2024
NAN = np.nan


def hand_market():
    """4 sectors; D only trades from d3. Scores on d0 and d2 (a 2-session step)."""
    rets = pd.DataFrame(
        {
            "A": [0.00, 0.10, -0.10, 0.05, 0.00, 0.01, 0.01],
            "B": [0.00, 0.00, 0.20, -0.05, 0.10, 0.01, 0.01],
            "C": [0.00, -0.05, 0.00, 0.10, -0.10, 0.01, 0.01],
            "D": [NAN, NAN, NAN, 0.02, -0.04, 0.01, 0.01],
        },
        index=D,
    )
    bench = pd.Series([0.0, 0.02, 0.01, 0.03, -0.02, 0.0, 0.0], index=D)
    scores = pd.Series(
        # d0: D scores best but has no return on d1 -> not eligible; top-2 = A, B
        # d2: D has no score -> not eligible; top-2 = A, C
        [3.0, 2.0, 1.0, 9.0, 3.0, 1.0, 2.0, NAN],
        index=pd.MultiIndex.from_product([[D[0], D[2]], list("ABCD")], names=["date", "sector"]),
    )
    return scores, rets, bench


def test_hand_built_two_rebalance_example():
    scores, rets, bench = hand_market()
    res = rotation_backtest(scores, rets, bench, top_k=2, cost_bps=10.0)
    c = 10 / 1e4
    # strategy: 50/50 A,B from d1; drifts to A .55, B .50 after d1; rebalanced to A/C after d2
    to2 = abs(0.5 - 0.495 / 1.095) + 0.6 / 1.095 + 0.5
    expected = [
        0.05 - c * 1.0,  # d1: building from cash is turnover 1
        1.095 / 1.05 - 1,  # d2: (0.55 * 0.9 + 0.5 * 1.2) / 1.05
        0.075 - c * to2,  # d3: 0.5 * 0.05 + 0.5 * 0.10, minus the rebalance cost
        (0.525 * 1.0 + 0.55 * 0.9) / 1.075 - 1,  # d4: drifted A .525, C .55
    ]
    assert list(res.returns.index) == list(D[1:5])  # from first rebalance + 1 to last + one step
    np.testing.assert_allclose(res.returns.to_numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(res.turnover.to_numpy(), [1.0, to2], atol=1e-12)
    np.testing.assert_allclose(res.benchmark.to_numpy(), [0.02, 0.01, 0.03, -0.02])
    assert res.weights.loc[D[0]].to_dict() == {"A": 0.5, "B": 0.5, "C": 0.0, "D": 0.0}
    assert res.weights.loc[D[2]].to_dict() == {"A": 0.5, "B": 0.0, "C": 0.5, "D": 0.0}

    # equal weight: A, B, C on d0 (D has no d1 return); A, B, C, D on d2 (D's d3 return is known)
    ew_to2 = abs(0.25 - 0.99 / 3.14) + abs(0.25 - 1.2 / 3.14) + abs(0.25 - 0.95 / 3.14) + 0.25
    ew_expected = [
        0.05 / 3 - c * 1.0,
        3.14 / 3.05 - 1,
        (0.05 - 0.05 + 0.10 + 0.02) / 4 - c * ew_to2,
        (1.05 * 1.0 + 0.95 * 1.1 + 1.1 * 0.9 + 1.02 * 0.96) / 4.12 - 1,
    ]
    np.testing.assert_allclose(res.equal_weight.to_numpy(), ew_expected, atol=1e-12)

    st = res.stats()
    growth = np.prod(1 + np.array(expected))
    assert st["ann_return_strategy"] == pytest.approx(growth ** (252 / 4) - 1, rel=1e-9)
    bench_growth = 1.02 * 1.01 * 1.03 * 0.98
    assert st["ann_excess_vs_benchmark"] == pytest.approx(growth**63 - bench_growth**63, rel=1e-9)
    assert st["max_drawdown_strategy"] == pytest.approx(expected[3], rel=1e-9)  # d3 is the peak
    assert st["avg_turnover"] == pytest.approx((1 + to2) / 2)
    assert st["total_cost"] == pytest.approx(c * (1 + to2))
    assert st["n_rebalances"] == 2 and st["n_days"] == 4
    assert (st["start"], st["end"]) == (D[1], D[4])
    active = np.array(expected) - np.array([0.02, 0.01, 0.03, -0.02])
    assert st["information_ratio"] == pytest.approx(active.mean() / active.std(ddof=1) * np.sqrt(252))
    rel = np.cumprod(1 + np.array(expected)) / np.cumprod([1.02, 1.01, 1.03, 0.98])
    assert st["max_drawdown_vs_benchmark"] == pytest.approx(
        min(0.0, (np.concatenate([[1], rel]) / np.maximum.accumulate(np.concatenate([[1], rel])) - 1).min())
    )


def test_last_holding_length_is_explicit():
    scores, rets, bench = hand_market()
    assert rotation_backtest(scores, rets, bench, top_k=2, hold_last=4).returns.index[-1] == D[6]
    only_first = scores.loc[[D[0]]]  # one rebalance: hold to the end of the returns
    assert rotation_backtest(only_first, rets, bench, top_k=2).returns.index[-1] == D[6]


def random_market(n_days=400, n_sectors=11, seed=0, vol=0.02):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=n_days)
    cols = [f"S{i:02d}" for i in range(n_sectors)]
    rets = pd.DataFrame(rng.normal(0.0003, vol, (n_days, n_sectors)), index=dates, columns=cols)
    bench = rets.mean(axis=1) + rng.normal(0, 0.002, n_days)
    return rets, bench


def as_scores(panel: pd.DataFrame) -> pd.Series:
    return panel.stack().rename("score")


def test_same_day_return_score_earns_nothing_from_it():
    """Look-ahead trap. Returns mean-revert (r_t = e_t - e_{t-1}), and the score on t is r_t itself.

    A leaky backtest that earns day-t returns with day-t scores books the top-3 of each day
    (a huge profit, computed below). Earning from t+1 it must instead LOSE, because
    yesterday's winners give back half their move.
    """
    rng = np.random.default_rng(3)
    n, cols = 500, [f"S{i:02d}" for i in range(11)]
    e = rng.normal(0, 0.01, (n + 1, 11))
    rets = pd.DataFrame(e[1:] - e[:-1], index=pd.bdate_range("2016-01-01", periods=n), columns=cols)
    bench = rets.mean(axis=1)
    r = rets.to_numpy()
    leaky_daily_excess = np.mean(np.sort(r, axis=1)[:, -3:].mean(axis=1) - r.mean(axis=1))
    assert leaky_daily_excess * 252 > 2.0  # a leak would show > 200 %/yr over equal weight

    res = rotation_backtest(as_scores(rets), rets, bench, top_k=3, cost_bps=0.0)
    st = res.stats()
    assert st["ann_excess_vs_equal_weight"] < -0.5
    assert st["information_ratio_vs_equal_weight"] < 0


def test_next_day_foresight_earns_exactly_the_next_day_top_k():
    """Score dated t = return of t+1, daily rebalancing: each day's gross return is the mean of
    that day's top 3 (from independent sorting). Any off-by-one in the timing breaks this."""
    rets, bench = random_market(n_days=120, seed=1)
    scores = as_scores(rets.shift(-1).iloc[:-1])
    res = rotation_backtest(scores, rets, bench, top_k=3, cost_bps=0.0)
    r = rets.to_numpy()[1:]
    expected = np.sort(r, axis=1)[:, -3:].mean(axis=1)
    np.testing.assert_allclose(res.gross_returns.to_numpy(), expected, atol=1e-12)
    assert res.stats()["ann_excess_vs_benchmark"] > 1.0


def test_perfect_foresight_over_a_5_session_hold_beats_equal_weight():
    rets, bench = random_market(n_days=400, seed=2)
    fwd = np.log1p(rets).rolling(5).sum().shift(-5)  # t+1..t+5, what the label measures
    scores = as_scores(fwd.iloc[:-5:5])
    res = rotation_backtest(scores, rets, bench, top_k=3, cost_bps=10.0)
    st = res.stats()
    assert st["ann_excess_vs_equal_weight"] > 0.5 and st["information_ratio_vs_equal_weight"] > 3
    assert len(res.returns) == 5 * st["n_rebalances"]


def test_costs_reduce_returns_exactly_by_cost_times_turnover():
    rets, bench = random_market(n_days=200, seed=4)
    noisy = rets.shift(-1) + np.random.default_rng(5).normal(0, 0.03, rets.shape)
    scores = as_scores(noisy.iloc[:-1:5])
    free = rotation_backtest(scores, rets, bench, top_k=3, cost_bps=0.0)
    paid = rotation_backtest(scores, rets, bench, top_k=3, cost_bps=25.0)
    pd.testing.assert_series_equal(free.gross_returns, paid.gross_returns)
    pd.testing.assert_series_equal(free.turnover, paid.turnover)
    diff = free.returns - paid.returns
    entry_days = rets.index[rets.index.searchsorted(paid.turnover.index, side="right")]
    np.testing.assert_allclose(diff.loc[entry_days].to_numpy(), 25e-4 * paid.turnover.to_numpy(), atol=1e-15)
    assert (diff.drop(entry_days).abs() < 1e-15).all()
    assert paid.turnover.iloc[0] == pytest.approx(1.0) and 0 < paid.turnover.iloc[1:].mean() < 2
    assert paid.stats()["ann_cost_drag"] == pytest.approx(25e-4 * paid.turnover.sum() * 252 / len(paid.returns))


def test_no_eligible_sector_means_cash():
    scores, rets, bench = hand_market()
    only_d = pd.Series([1.0], index=pd.MultiIndex.from_tuples([(D[0], "D")]))  # D has no d1 return
    res = rotation_backtest(only_d, rets, bench, top_k=2)
    assert (res.returns == 0).all() and res.turnover.iloc[0] == 0


def test_bad_inputs_are_named():
    scores, rets, bench = hand_market()
    with pytest.raises(ValueError, match="absent from sector_returns"):
        rotation_backtest(scores.rename({"D": "ZZ"}, level=1), rets, bench)
    with pytest.raises(ValueError, match="benchmark_returns missing"):
        rotation_backtest(scores, rets, bench.drop(D[3]), top_k=2)
    with pytest.raises(ValueError, match="top_k"):
        rotation_backtest(scores, rets, bench, top_k=0)
    with pytest.raises(ValueError, match="increasing"):
        rotation_backtest(scores, rets.iloc[::-1], bench)
