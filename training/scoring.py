"""Score one model's out-of-sample predictions with every metric, under flat MLflow-friendly names.

The same function scores LightGBM and the baselines on the same dates, which is the point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.dataset import MarketDataset
from training.backtest import BacktestResult, rotation_backtest
from training.config import TrainConfig
from training.metrics import (
    hit_rate,
    ic_by_date,
    interval_coverage,
    rank_autocorrelation,
    summarise_ic,
    summarise_series,
    top_bottom_spread,
    top_k_turnover,
)

BACKTEST_METRICS = (
    "ann_excess_vs_benchmark",
    "ann_excess_vs_equal_weight",
    "information_ratio",
    "tracking_error",
    "max_drawdown_strategy",
    "max_drawdown_vs_benchmark",
    "avg_turnover",
    "ann_cost_drag",
)


def _prefixed(prefix: str, stats: dict, keys=("mean", "ci_low", "ci_high", "t_stat")) -> dict:
    return {f"{prefix}_{k}": stats[k] for k in keys if k in stats}


def daily_returns(close: pd.DataFrame | pd.Series):
    """Simple close-to-close returns; NaN where either close is missing (no filling across gaps)."""
    return close / close.shift(1) - 1.0


def evaluate_scores(
    scores: pd.DataFrame,
    ds: MarketDataset,
    horizon: str,
    cfg: TrainConfig,
    forecast: pd.DataFrame | None = None,
    vix: pd.Series | None = None,
) -> tuple[dict, dict]:
    """Metrics (flat dict of floats) and series (for plots) for one model at one horizon.

    `scores`: (date, sector) with `score` and `label`; `forecast` optionally adds pred/lower/upper/prob
    columns (return forecasts), used for coverage (overall, per year, per sector, per VIX tercile),
    Brier score, the reliability curve and out-of-sample R². `vix` is the VIX per (date, sector) row.
    """
    overlap = cfg.overlap(horizon)
    seed = 0
    constant = scores["score"].groupby(level="date").nunique().max() <= 1
    metrics: dict[str, float] = {"n_dates": float(scores.index.get_level_values("date").nunique())}
    series: dict[str, pd.Series] = {}
    if constant:  # the no-skill baseline: by definition no ranking information
        for name in ("rank_ic", "ic", "spread"):
            metrics.update({f"{name}_mean": 0.0, f"{name}_ci_low": 0.0, f"{name}_ci_high": 0.0, f"{name}_t_stat": 0.0})
        metrics.update(rank_ic_icir=0.0, hit_rate=0.5, rank_autocorr=1.0, top_k_turnover=0.0)
        series["rank_ic"] = pd.Series(0.0, index=scores.index.get_level_values("date").unique().sort_values())
    else:
        rank_ic = ic_by_date(scores, "spearman")
        ic = ic_by_date(scores, "pearson")
        spread = top_bottom_spread(scores, cfg.top_k)
        ric = summarise_ic(rank_ic, overlap, cfg.n_boot, cfg.ci, seed)
        metrics.update(_prefixed("rank_ic", ric))
        metrics["rank_ic_icir"] = ric["icir"]
        metrics.update(_prefixed("ic", summarise_ic(ic, overlap, cfg.n_boot, cfg.ci, seed)))
        metrics.update(_prefixed("spread", summarise_series(spread, overlap, cfg.n_boot, cfg.ci, seed)))
        metrics["hit_rate"] = hit_rate(scores)
        metrics["rank_autocorr"] = float(rank_autocorrelation(scores).mean())
        metrics["top_k_turnover"] = top_k_turnover(scores, cfg.top_k)
        series.update(rank_ic=rank_ic, spread=spread)
    # the no-skill baseline holds every sector: its "top k" would be an arbitrary tie-break
    bt = horizon_backtest(scores, ds, horizon, cfg, top_k=ds.panels.close.shape[1] if constant else cfg.top_k)
    series["cumulative_vs_benchmark"] = (1 + bt.returns).cumprod() / (1 + bt.benchmark).cumprod()
    stats = bt.stats()
    metrics.update({f"bt_{k}": float(stats[k]) for k in BACKTEST_METRICS})
    if forecast is not None:
        metrics.update(_forecast_metrics(scores["label"], forecast))
        if "lower" in forecast:
            breakdown, by_year, reliability = coverage_breakdown(scores["label"], forecast, vix)
            metrics.update(breakdown)
            series.update(coverage_by_year=by_year, reliability=reliability)
    return metrics, series


VIX_TERCILES = ("low", "mid", "high")
RELIABILITY_BINS = 10


def coverage_breakdown(label: pd.Series, forecast: pd.DataFrame, vix: pd.Series | None = None):
    """(flat metrics, coverage per year, reliability table) of the intervals and P(outperform).

    Coverage per test year, per sector and per VIX tercile (terciles of the scored dates' VIX, a
    description of regimes, not an input to anything), and the reliability curve: the realised
    frequency of outperforming per decile of predicted probability.
    """
    ok = forecast["lower"].notna() & forecast["upper"].notna() & label.notna()
    y, lo, hi = label[ok], forecast["lower"][ok], forecast["upper"][ok]
    inside = ((lo <= y) & (y <= hi)).astype(float)
    out: dict[str, float] = {}
    if inside.empty:
        return out, pd.Series(dtype="float64"), pd.DataFrame()
    by_year = inside.groupby(inside.index.get_level_values("date").year).mean()
    out.update({f"coverage_year_{year}": float(v) for year, v in by_year.items()})
    out["coverage_min_year"] = float(by_year.min())
    out["coverage_max_year"] = float(by_year.max())
    by_sector = inside.groupby(level="sector").mean()
    out.update({f"coverage_sector_{sector}": float(v) for sector, v in by_sector.items()})
    if vix is not None:
        v = vix.reindex(inside.index)
        if v.notna().sum() >= len(VIX_TERCILES):
            tercile = pd.qcut(v.rank(method="first"), len(VIX_TERCILES), labels=list(VIX_TERCILES))
            for name, cov in inside.groupby(tercile, observed=True).mean().items():
                out[f"coverage_vix_{name}"] = float(cov)
    prob = forecast["prob"][ok]
    won = (y > 0).astype(float)
    bins = np.minimum((prob.to_numpy() * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    reliability = (
        pd.DataFrame({"bin": bins, "predicted": prob.to_numpy(), "observed": won.to_numpy()})
        .groupby("bin")
        .agg(predicted=("predicted", "mean"), observed=("observed", "mean"), n=("observed", "size"))
    )
    return out, by_year, reliability


def horizon_backtest(
    scores: pd.DataFrame,
    ds: MarketDataset,
    horizon: str,
    cfg: TrainConfig,
    top_k: int | None = None,
) -> BacktestResult:
    """The top-k rotation on every `rebalance // step`-th score date, from the first of them on."""
    dates = scores.index.get_level_values("date").unique().sort_values()
    every = max(1, cfg.rebalance[horizon] // cfg.step)
    rebal = dates[::every]
    s = scores["score"][scores.index.get_level_values("date").isin(rebal)]
    rets = daily_returns(ds.panels.close)
    bench = daily_returns(ds.panels.benchmark["close"])
    window = rets.index[rets.index >= rebal[0]]
    return rotation_backtest(
        s,
        rets.loc[window],
        bench.loc[window].fillna(0.0),
        cost_bps=cfg.cost_bps,
        top_k=cfg.top_k if top_k is None else top_k,
        periods_per_year=ds.config.sessions_per_year,
    )


def _forecast_metrics(label: pd.Series, forecast: pd.DataFrame) -> dict:
    out = {}
    ok = forecast["pred"].notna() & label.notna()
    if ok.any():
        err = label[ok] - forecast["pred"][ok]
        out["rmse"] = float(np.sqrt((err**2).mean()))
        out["oos_r2_vs_zero"] = float(1.0 - (err**2).sum() / (label[ok] ** 2).sum())
    if "lower" in forecast:
        cov = forecast["lower"].notna() & label.notna()
        if cov.any():
            out["interval_coverage"] = interval_coverage(label[cov], forecast["lower"][cov], forecast["upper"][cov])
            outperf = (label[cov] > 0).astype(float)
            out["prob_brier"] = float(((forecast["prob"][cov] - outperf) ** 2).mean())
    return out
