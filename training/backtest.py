"""Top-k sector rotation backtest net of costs: what the forecasts would have earned.

Timing is the whole point (no look-ahead): scores dated t are known at t's close, so the
portfolio chosen at t earns from the NEXT session t+1 through the next rebalance date inclusive.
Weights drift with returns between rebalances; turnover is measured against the drifted weights
and costs `cost_bps * turnover` are deducted on the first day of each holding period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.metrics import SCORE, check_date_sector_index, top_k_mask

BPS = 1e4


@dataclass(frozen=True)
class BacktestResult:
    """Daily series over the evaluated window plus per-rebalance bookkeeping."""

    returns: pd.Series  # daily strategy returns, net of costs
    gross_returns: pd.Series  # daily strategy returns before costs
    benchmark: pd.Series  # daily benchmark returns over the same window
    equal_weight: pd.Series  # daily equal-weight basket of available sectors, same rebalance dates, net
    turnover: pd.Series  # per rebalance date: sum |w_target - w_drifted| (first one builds from cash)
    costs: pd.Series  # per rebalance date: fraction of value paid in costs
    weights: pd.DataFrame  # target weights per rebalance date (rebalance date x sector)
    top_k: int
    cost_bps: float
    periods_per_year: int

    def stats(self) -> dict:
        """Headline numbers; returns are annualised geometrically, drawdowns are negative fractions."""
        ppy = self.periods_per_year
        strat, bench, ew = self.returns, self.benchmark, self.equal_weight
        active, active_ew = strat - bench, strat - ew
        ann_s, ann_b, ann_e = (_annualised_return(r, ppy) for r in (strat, bench, ew))
        te = float(active.std(ddof=1) * np.sqrt(ppy))
        te_ew = float(active_ew.std(ddof=1) * np.sqrt(ppy))
        relative_wealth = (1.0 + strat).cumprod() / (1.0 + bench).cumprod()
        return {
            "ann_return_strategy": ann_s,
            "ann_return_benchmark": ann_b,
            "ann_return_equal_weight": ann_e,
            "ann_excess_vs_benchmark": ann_s - ann_b,
            "ann_excess_vs_equal_weight": ann_s - ann_e,
            "information_ratio": float(active.mean() * ppy / te) if te > 0 else float("nan"),
            "tracking_error": te,
            "information_ratio_vs_equal_weight": float(active_ew.mean() * ppy / te_ew) if te_ew > 0 else float("nan"),
            "max_drawdown_strategy": _max_drawdown((1.0 + strat).cumprod()),
            "max_drawdown_vs_benchmark": _max_drawdown(relative_wealth),
            "avg_turnover": float(self.turnover.mean()),
            "ann_cost_drag": float(self.costs.sum() * ppy / len(strat)),
            "total_cost": float(self.costs.sum()),
            "n_rebalances": int(len(self.turnover)),
            "n_days": int(len(strat)),
            "start": strat.index[0],
            "end": strat.index[-1],
        }


def _annualised_return(r: pd.Series, ppy: int) -> float:
    return float(np.expm1(np.log1p(r.to_numpy()).sum() * ppy / len(r)))


def _max_drawdown(wealth: pd.Series) -> float:
    """Worst fall from a running peak; the curve starts at 1 so a first-day loss counts."""
    w = np.concatenate([[1.0], wealth.to_numpy()])
    return float((w / np.maximum.accumulate(w) - 1.0).min())


def _check_inputs(scores: pd.Series, sector_returns: pd.DataFrame, top_k: int, cost_bps: float) -> None:
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if cost_bps < 0:
        raise ValueError(f"cost_bps must be >= 0, got {cost_bps}")
    check_date_sector_index(scores.index)
    idx = sector_returns.index
    if not (idx.is_monotonic_increasing and idx.is_unique):
        raise ValueError("sector_returns index must be unique, increasing daily dates")
    unknown = sorted(set(scores.index.get_level_values(1)) - set(sector_returns.columns))
    if unknown:
        raise ValueError(f"scores name sector(s) absent from sector_returns columns: {unknown}")


def _entry_positions(rebalance_dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex) -> np.ndarray:
    """Position of the first session strictly after each rebalance date (where holding starts)."""
    entry = sessions.searchsorted(rebalance_dates, side="right")
    clash = np.flatnonzero(np.diff(entry) == 0)
    if len(clash):
        i = clash[0]
        raise ValueError(
            f"rebalance dates {rebalance_dates[i].date()} and {rebalance_dates[i + 1].date()} have no session "
            "between them; pass one score date per holding period"
        )
    return entry


def _simulate(targets: np.ndarray, entry: np.ndarray, end: int, rets: np.ndarray, cost: float):
    """Hold each target weight vector from its entry session to the next entry, drifting with returns.

    Unallocated weight is cash (return 0). Returns daily gross and net returns over
    [entry[0], end) and the per-rebalance turnover.
    """
    start = entry[0]
    gross = np.zeros(end - start)
    net = np.zeros(end - start)
    turnover = np.zeros(len(targets))
    drifted = np.zeros(targets.shape[1])
    stops = np.append(entry[1:], end)
    for i, (a, b) in enumerate(zip(entry, stops)):
        w = targets[i]
        turnover[i] = np.abs(w - drifted).sum()
        growth = np.cumprod(1.0 + rets[a:b], axis=0)  # (days x sectors) value of 1 held since entry
        value = growth @ w + (1.0 - w.sum())
        path = np.concatenate([[1.0], value])
        daily = path[1:] / path[:-1] - 1.0
        gross[a - start : b - start] = daily
        net[a - start : b - start] = daily
        net[a - start] -= cost * turnover[i]
        drifted = w * growth[-1] / value[-1]
    return gross, net, turnover


def rotation_backtest(
    scores: pd.Series,
    sector_returns: pd.DataFrame,
    benchmark_returns: pd.Series,
    top_k: int = 3,
    cost_bps: float = 10.0,
    periods_per_year: int = 252,
    hold_last: int | None = None,
) -> BacktestResult:
    """Equal-weight the top_k scored sectors on each score date; compare with benchmark and an equal-weight basket.

    `scores`: predictions indexed by (rebalance date, sector) (a DataFrame's `score` column is used).
    `sector_returns`: simple daily returns, dates x sectors, NaN before a sector exists.
    A sector is eligible at t only if it has a score at t and a return at t+1; with no
    eligible sector the strategy holds cash. A held sector's missing daily return counts as 0.
    The equal-weight basket holds every sector with a return at t+1, rebalanced on the same
    dates with the same cost model. The last holding lasts `hold_last` sessions (default: the
    median spacing between rebalances, all remaining sessions if there is one rebalance).
    """
    if isinstance(scores, pd.DataFrame):
        scores = scores[SCORE]
    _check_inputs(scores, sector_returns, top_k, cost_bps)
    sessions = pd.DatetimeIndex(sector_returns.index)
    panel = scores.astype("float64").unstack(level=1).sort_index().reindex(columns=sector_returns.columns)
    panel = panel[panel.notna().any(axis=1)]
    rebal = pd.DatetimeIndex(panel.index)
    entry = _entry_positions(rebal, sessions)
    keep = entry < len(sessions)  # a score after the last return date cannot earn anything
    if not keep.any():
        raise ValueError(f"no session in sector_returns after the first score date {rebal[0].date()}")
    panel, rebal, entry = panel[keep], rebal[keep], entry[keep]

    if hold_last is None:
        hold_last = int(np.median(np.diff(entry))) if len(entry) > 1 else len(sessions) - entry[-1]
    if hold_last < 1:
        raise ValueError(f"hold_last must be >= 1 session, got {hold_last}")
    end = int(min(len(sessions), entry[-1] + hold_last))

    rets = sector_returns.to_numpy(dtype="float64")
    tradable = ~np.isnan(rets[entry])  # return known on the first holding day
    eligible = panel.where(tradable)
    chosen = top_k_mask(eligible, top_k).to_numpy() & tradable
    n_chosen = chosen.sum(axis=1, keepdims=True)
    strat_w = np.divide(chosen, n_chosen, out=np.zeros(chosen.shape), where=n_chosen > 0)
    ew_w = tradable / np.maximum(tradable.sum(axis=1, keepdims=True), 1)

    held = np.nan_to_num(rets, nan=0.0)
    cost = cost_bps / BPS
    gross, net, turnover = _simulate(strat_w, entry, end, held, cost)
    _, ew_net, _ = _simulate(ew_w, entry, end, held, cost)

    window = sessions[entry[0] : end]
    bench = pd.Series(benchmark_returns, dtype="float64").reindex(window)
    if bench.isna().any():
        missing = bench.index[bench.isna()]
        raise ValueError(f"benchmark_returns missing on {len(missing)} evaluated session(s), first {missing[0].date()}")
    return BacktestResult(
        returns=pd.Series(net, index=window, name="strategy"),
        gross_returns=pd.Series(gross, index=window, name="strategy_gross"),
        benchmark=bench.rename("benchmark"),
        equal_weight=pd.Series(ew_net, index=window, name="equal_weight"),
        turnover=pd.Series(turnover, index=rebal, name="turnover"),
        costs=pd.Series(turnover * cost, index=rebal, name="cost"),
        weights=pd.DataFrame(strat_w, index=rebal, columns=sector_returns.columns),
        top_k=top_k,
        cost_bps=float(cost_bps),
        periods_per_year=periods_per_year,
    )
