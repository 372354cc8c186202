"""The live scorecard: how the forecasts the service actually logged (training/forecast_log.py) turned out.

A logged forecast matures when its horizon has passed in the data: its realised relative return is the
training label itself (features.labels via MarketDataset.labels: forward log return of the sector minus
the benchmark's over the horizon's sessions), so live and backtest figures measure the same thing. The
metrics are those of the walk-forward (training/metrics.py), on matured live forecasts only:

  rank IC        mean per-date Spearman correlation of prediction and outcome, with a circular block-bootstrap
                 interval over dates (summarise_ic). Chosen over Fisher-z of per-date ICs because live dates
                 overlap (a 3M forecast logged daily shares 62 of 63 sessions with the next one): resampling
                 blocks of consecutive dates keeps that dependence, and it is the backtest's own interval, so
                 the two can be read side by side. The block is ceil(horizon / median gap between logged dates);
                 no interval until the dates span `live_min_dates` blocks (non-overlapping periods), since a
                 bootstrap over fewer blocks is degenerate (one block covering every date has zero width).
  hit rate       share of sectors called on the right side of the date's mean (metrics.hit_rate)
  top-3 spread   mean realised return of the 3 best-forecast sectors minus the 3 worst (metrics.top_bottom_spread)
  coverage       share of outcomes inside the logged interval (metrics.interval_coverage), overall and over
                 forecasts that matured in the last `live_window_weeks`

Drift alarm (per horizon): recent coverage below `live_coverage_floor` (judged on at least
`live_min_forecasts` matured forecasts, so one unlucky date of 11 sectors does not raise it), or the
rank IC's interval entirely below zero. Serving then gives the predicted health component zero weight.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from features.dataset import MarketDataset
from training.config import TrainConfig
from training.metrics import hit_rate, ic_by_date, interval_coverage, summarise_ic, top_bottom_spread

NAN = float("nan")


def realised_relative_returns(ds: MarketDataset, forecasts: pd.DataFrame) -> pd.Series:
    """The outcome of each logged forecast (its row order), NaN until its horizon has passed in `ds`."""
    out = pd.Series(np.nan, index=forecasts.index, dtype="float64")
    for (h, sessions), rows in forecasts.groupby(["horizon", "sessions"]):
        label = ds.labels({str(h): int(sessions)})[f"label_{h}"]
        keys = pd.MultiIndex.from_arrays([rows["date"], rows["sector"]], names=["date", "sector"])
        out.loc[rows.index] = label.reindex(keys).to_numpy()
    return out


def maturity_dates(dates: pd.DatetimeIndex, forecast_dates: pd.Series, sessions: int) -> pd.Series:
    """The session each forecast's horizon ends on (NaT beyond the data)."""
    pos = dates.searchsorted(pd.DatetimeIndex(forecast_dates)) + sessions
    ok = pos < len(dates)
    ends = np.full(len(pos), np.datetime64("NaT"), dtype="datetime64[ns]")
    ends[ok] = dates[pos[ok]].to_numpy()
    return pd.Series(ends, index=forecast_dates.index)


def median_gap_sessions(dates: pd.DatetimeIndex, forecast_dates) -> int:
    """Median number of sessions between consecutive forecast dates (1 for one date)."""
    pos = np.unique(dates.searchsorted(pd.DatetimeIndex(forecast_dates)))
    return int(max(1, np.median(np.diff(pos)))) if len(pos) > 1 else 1


def horizon_scorecard(
    ds: MarketDataset, forecasts: pd.DataFrame, horizon: str, sessions: int, cfg: TrainConfig
) -> dict:
    """The scorecard of one horizon's logged forecasts (one model version, one universe)."""
    dates = ds.panels.dates
    f = forecasts[forecasts["horizon"] == horizon]
    realised = realised_relative_returns(ds, f)
    matured = f[realised.notna()].assign(realised=realised[realised.notna()])
    idx = pd.MultiIndex.from_arrays([matured["date"], matured["sector"]], names=["date", "sector"])
    scores = pd.DataFrame(
        {"score": matured["prediction"].to_numpy(), "label": matured["realised"].to_numpy()}, index=idx
    )
    n_dates = int(scores.index.get_level_values("date").nunique())
    out: dict = {
        "n_forecasts": len(f),
        "n_matured": len(matured),
        "n_dates_matured": n_dates,
        "first_date": None if f.empty else f["date"].min().date().isoformat(),
        "last_matured_date": None if matured.empty else matured["date"].max().date().isoformat(),
        "rank_ic_mean": NAN,
        "rank_ic_ci_low": NAN,
        "rank_ic_ci_high": NAN,
        "independent_periods": 0.0,
        "hit_rate": NAN,
        "spread_mean": NAN,
        "interval_coverage": NAN,
        "coverage_recent": NAN,
        "n_recent": 0,
        "window_weeks": cfg.live_window_weeks,
        "coverage_floor": cfg.live_coverage_floor,
    }
    if matured.empty:
        return out | _verdict(out, horizon, cfg)
    ic = ic_by_date(scores, "spearman")
    out["rank_ic_mean"] = float(ic.mean()) if len(ic) else NAN
    overlap = math.ceil(sessions / median_gap_sessions(dates, ic.index))
    out["independent_periods"] = len(ic) / overlap
    if out["independent_periods"] >= cfg.live_min_dates:  # fewer blocks than this: the bootstrap is degenerate
        s = summarise_ic(ic, overlap, cfg.n_boot, cfg.ci)
        out.update(rank_ic_ci_low=s["ci_low"], rank_ic_ci_high=s["ci_high"])
    out["hit_rate"] = hit_rate(scores)
    spread = top_bottom_spread(scores, cfg.top_k)
    out["spread_mean"] = float(spread.mean()) if len(spread) else NAN
    out["interval_coverage"] = interval_coverage(matured["realised"], matured["lower"], matured["upper"])
    ends = maturity_dates(dates, matured["date"], sessions)
    recent = matured[ends >= dates[-1] - pd.Timedelta(weeks=cfg.live_window_weeks)]
    out["n_recent"] = len(recent)
    if len(recent):
        out["coverage_recent"] = interval_coverage(recent["realised"], recent["lower"], recent["upper"])
    return out | _verdict(out, horizon, cfg)


def _verdict(card: dict, horizon: str, cfg: TrainConfig) -> dict:
    """Drift flag, its reasons and the scorecard in plain words."""
    reasons = []
    cov = card["coverage_recent"]
    if card["n_recent"] >= cfg.live_min_forecasts and cov < cfg.live_coverage_floor:
        reasons.append(
            f"live interval coverage {cov:.0%} over the last {cfg.live_window_weeks} weeks is below "
            f"{cfg.live_coverage_floor:.0%}"
        )
    hi = card["rank_ic_ci_high"]
    if np.isfinite(hi) and hi < 0:
        reasons.append(f"the live rank IC interval [{card['rank_ic_ci_low']:+.2f}, {hi:+.2f}] lies below zero")
    if card["n_matured"] == 0:
        text = f"{horizon} live: {card['n_forecasts']} forecasts logged, none matured yet"
    else:
        ci = (
            f" [{card['rank_ic_ci_low']:+.2f}, {hi:+.2f}]"
            if np.isfinite(hi)
            else f" (no interval yet: {card['independent_periods']:.1f} non-overlapping periods, "
            f"needs {cfg.live_min_dates})"
        )
        text = (
            f"{horizon} live: rank IC {card['rank_ic_mean']:+.2f}{ci}, hit rate {card['hit_rate']:.0%}, "
            f"coverage {card['interval_coverage']:.0%} over {card['n_matured']} matured forecasts "
            f"({card['n_dates_matured']} dates)"
        )
    if reasons:
        text += "; DRIFT ALARM: " + "; ".join(reasons) + " (predicted weight set to 0)"
    return {"drift": bool(reasons), "drift_reasons": reasons, "summary": text}


def live_scorecard(ds: MarketDataset, forecasts: pd.DataFrame, horizons: dict[str, int], cfg: TrainConfig) -> dict:
    """{horizon: horizon_scorecard} for one model version's logged forecasts."""
    return {h: horizon_scorecard(ds, forecasts, h, n, cfg) for h, n in horizons.items()}


def model_versions(forecasts: pd.DataFrame) -> list[tuple[str, str]]:
    """(model name, version) pairs in the log, newest version first."""
    pairs = forecasts[["model_name", "model_version"]].drop_duplicates().itertuples(index=False)
    return sorted(((str(n), str(v)) for n, v in pairs), key=lambda p: (p[0], -int(p[1]) if p[1].isdigit() else 0, p[1]))


def horizons_logged(forecasts: pd.DataFrame) -> dict[str, int]:
    """Horizon -> sessions as logged, shortest first."""
    pairs = forecasts[["horizon", "sessions"]].drop_duplicates()
    return {str(h): int(n) for h, n in sorted(pairs.itertuples(index=False), key=lambda p: p[1])}


SCORECARD_METRICS = (
    "rank_ic_mean",
    "rank_ic_ci_low",
    "rank_ic_ci_high",
    "hit_rate",
    "spread_mean",
    "interval_coverage",
    "coverage_recent",
    "n_matured",
    "n_dates_matured",
    "n_forecasts",
)
KIND_TAG = "sector_heatmap.kind"
SCORECARD_OF_TAG = "sector_heatmap.scorecard_of"


def log_scorecard_run(
    store_dir: str, experiment: str, name: str, version: str, run_id: str | None, card: dict, data_through
) -> str:
    """Log one model version's scorecard to MLflow: one run per model version (found by its tag and reused),
    each call a new step (days since 1970 of the data's last session), so the UI charts it over time."""
    from mlflow import MlflowClient

    from training import store

    exp_id = store.open_store(store_dir, experiment, create=True)
    client = MlflowClient()
    target = f"{name}/v{version}"
    found = client.search_runs([exp_id], filter_string=f"tags.`{SCORECARD_OF_TAG}` = '{target}'", max_results=1)
    if found:
        rid = found[0].info.run_id
    else:
        tags = {KIND_TAG: "live_scorecard", SCORECARD_OF_TAG: target, "model_name": name, "model_version": version}
        if run_id:
            tags["model_run_id"] = str(run_id)
        rid = client.create_run(
            exp_id, tags={**tags, **store.process_tags()}, run_name=f"scorecard {target}"
        ).info.run_id
    step = int((pd.Timestamp(data_through) - pd.Timestamp("1970-01-01")).days)
    now_ms = int(pd.Timestamp.now("UTC").timestamp() * 1000)
    from mlflow.entities import Metric

    metrics = [
        Metric(f"live_{k}_{h}", float(v[k]), now_ms, step)
        for h, v in card.items()
        for k in (*SCORECARD_METRICS, "drift")
        if v.get(k) is not None and np.isfinite(float(v[k]))
    ]
    client.log_batch(rid, metrics=metrics)
    client.set_tag(rid, "data_through", pd.Timestamp(data_through).date().isoformat())
    client.set_terminated(rid, status="FINISHED")
    return rid
