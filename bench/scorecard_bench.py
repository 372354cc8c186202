"""What logging served forecasts costs the heatmap path, against the same path without a forecast log.

In one process, on the serving tests' small market and tiny champion: uncached heatmaps for distinct
past dates (each logs its forecasts once) with a forecast log and without one (the baseline, measured in the
same run, interleaved), cached answers with and without, the INSERT a live (latest-date) answer adds,
and computing the live scorecard. Writes bench/results/scorecard.json.

    PYTHONPATH=$PWD .venv/bin/python bench/scorecard_bench.py [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import write_results  # noqa: E402  (the one bench runner)


def engine(store: Path, market, champion):
    from features.settings import ConfigFile
    from serving.engine import HeatmapEngine
    from serving.state import ServerSettings, ServingState, UniverseState

    settings = ServerSettings.from_file(ConfigFile.read(None), "csv:/data/us_daily", str(store))
    return HeatmapEngine(settings, ServingState({"us_sectors": UniverseState(market, champion, "ok")}, 1, 0.0))


def timed_ms(eng, requests: list[dict]) -> list[float]:
    out = []
    for raw in requests:
        t0 = time.perf_counter()
        asyncio.run(eng.heatmap(raw))
        out.append(1000 * (time.perf_counter() - t0))
    return out


def write_cost_ms(folder: Path, eng, u, n: int) -> list[float]:
    """What one latest-date answer adds on the live path: one INSERT of a date's 33 forecasts (a new date each)."""
    import pandas as pd

    from serving.heatmap import compute_heatmap
    from serving.request import HeatmapRequest
    from training.forecast_log import ForecastLog, forecast_rows

    folder.mkdir()
    flog = ForecastLog(folder / "forecasts.db")
    frame = compute_heatmap(u.dataset, HeatmapRequest.parse({}, eng.cfg), u.champion, "ok", eng.cfg)
    horizons = {h: hm.sessions for h, hm in u.champion.forecaster.horizons.items()}
    out = []
    for day in pd.bdate_range("2030-01-01", periods=n):
        rows = forecast_rows("us_sectors", day, frame.preds, horizons, u.champion.card)
        t0 = time.perf_counter()
        flog.write(rows)
        out.append(1000 * (time.perf_counter() - t0))
    return out


def main(quick: bool = False) -> dict:
    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    from serving_builders import SIGNIFICANT, make_champion, make_dataset

    n = 20 if quick else 80
    market = make_dataset()
    with tempfile.TemporaryDirectory() as tmp:
        champion = make_champion(Path(tmp) / "model", SIGNIFICANT)
        with_log, without = Path(tmp) / "store", Path(tmp) / "no_store"
        with_log.mkdir()
        without.mkdir()
        (with_log / "mlflow.db").write_bytes(b"")  # the log lives beside an MLflow database
        dates = market.panels.dates
        days = [d.date().isoformat() for d in dates[dates >= "2024-01-08"][:n]]
        requests = [{"as_of": d} for d in days]
        logged, base = engine(with_log, market, champion), engine(without, market, champion)
        for eng in (logged, base):  # warm: imports, first prediction
            asyncio.run(eng.heatmap({"as_of": "2023-06-30"}))
        # interleaved, so drift in machine load hits both alike
        ms_log, ms_base = [], []
        for raw in requests:
            ms_log += timed_ms(logged, [raw])
            ms_base += timed_ms(base, [raw])
        hit_log = timed_ms(logged, [requests[-1]] * 200)
        hit_base = timed_ms(base, [requests[-1]] * 200)
        _, u = logged.resolve()
        write_ms = write_cost_ms(Path(tmp) / "writes", logged, u, 200)
        logged.live.clear()
        t0 = time.perf_counter()
        card = logged.live.champion(u).card
        scorecard_ms = 1000 * (time.perf_counter() - t0)
        matured = card["skill"]["1W"]["live"]["n_matured"]
    out = {
        "case": "forecast log on the heatmap path (in-process engine, 11 sectors x 3 horizons)",
        "uncached_dates": n,
        "uncached_with_log_ms_median": statistics.median(ms_log),
        "uncached_baseline_ms_median": statistics.median(ms_base),
        "uncached_ratio": statistics.median(ms_log) / statistics.median(ms_base),
        "cached_with_log_ms_median": statistics.median(hit_log),
        "cached_baseline_ms_median": statistics.median(hit_base),
        "cached_ratio": statistics.median(hit_log) / statistics.median(hit_base),
        "live_path_write_ms_median": statistics.median(write_ms),
        "live_path_write_share_of_uncached_baseline": statistics.median(write_ms) / statistics.median(ms_base),
        "scorecard_ms": scorecard_ms,
        "scorecard_matured_1W": matured,
    }
    write_results("scorecard.json", out)
    return out


if __name__ == "__main__":
    main("--quick" in sys.argv)
