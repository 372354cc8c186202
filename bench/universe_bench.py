"""Constituent universes at scale: `python bench/universe_bench.py` -> bench/results/universe.json.

Targets (issue 12): `sp500` features over 20 years of daily bars (~2.5M bars) < 5 s; a demo market of
5,000 members in 11 sectors over 20 years: in-process features < 30 s and < 4 GB peak; the same on a
2-worker LocalCluster, wall time and peak memory per worker next to the in-process figures, and
the ratio. No network: the bars are the seeded demo market's (sp500: renamed onto the real symbols).
Each phase runs in its own process so its peak memory is its own (VmHWM); the machine is shared, so each
phase records the 1-minute load average before and after; "features" is bars -> sector
panels (member aggregation) -> feature table, the part that partitions over tickers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from run import run_phase, write_results

END = "2022-12-30"
SP500_KNOBS = dict(sectors=11, stocks=46, years=20, seed=11)  # 506 members: the sp500 shape
SCALE_KNOBS = dict(sectors=11, stocks=455, years=20, seed=12)  # 5,005 members
CLUSTER_WORKERS = 2
SP500_RUNS = 3


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries that across exec, so a spawned
    Dask worker would report its parent's peak as its own."""
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    return kb / 1024


def _sp500_bars():
    """The demo market renamed onto the 503 S&P 500 symbols and SPY (3 spare members dropped)."""
    from features.sources.demo import demo_market
    from features.universe import load_universe

    universe = load_universe("sp500")
    bars, demo = demo_market(end=END, **SP500_KNOBS)
    names = dict(zip([m for s in demo.sectors for m in s.members], [m for s in universe.sectors for m in s.members]))
    names[demo.benchmark] = universe.benchmark
    keep = bars["ticker"].isin(set(names) | set(demo.context.values()))
    bars = bars[keep].reset_index(drop=True)
    bars["ticker"] = bars["ticker"].map(lambda t: names.get(t, t)).astype("str")
    return bars, universe


def phase_sp500(q):
    from features.dataset import MarketDataset
    from features.validation import validate

    bars, universe = _sp500_bars()
    load = os.getloadavg()[0]
    runs = []
    for _ in range(SP500_RUNS):  # cheap enough to repeat: the machine is shared, the best run is the least disturbed
        t0 = time.perf_counter()
        table = MarketDataset.from_bars(bars, universe, "demo").features
        runs.append(time.perf_counter() - t0)
    raw = {t: g.drop(columns="ticker").reset_index(drop=True) for t, g in bars.groupby("ticker", sort=False)}
    t2 = time.perf_counter()
    validate(raw, {t: "bench" for t in raw}, benchmark=universe.benchmark)
    t3 = time.perf_counter()
    q.put(
        {
            "bars": len(bars),
            "members": universe.member_count,
            "features_s": min(runs),
            "features_runs_s": runs,
            "validate_s": t3 - t2,
            "load_average_1m": [load, os.getloadavg()[0]],
            "rows": len(table),
            "columns": table.shape[1],
            "peak_mb": _peak_rss_mb(),
        }
    )


def _scale():
    """(bars, universe, seconds to generate) of the 5,000-member demo market."""
    from features.sources.demo import demo_market

    t0 = time.perf_counter()
    bars, universe = demo_market(end=END, **SCALE_KNOBS)
    return bars, universe, time.perf_counter() - t0


def _checksum(table) -> str:
    import hashlib

    import pandas as pd

    return hashlib.sha256(pd.util.hash_pandas_object(table).to_numpy().tobytes()).hexdigest()[:16]


def phase_scale_in_process(q):
    from features.dataset import MarketDataset

    bars, universe, generate_s = _scale()
    load = os.getloadavg()[0]
    before = _peak_rss_mb()
    t0 = time.perf_counter()
    table = MarketDataset.from_bars(bars, universe, "demo").features
    q.put(
        {
            "bars": len(bars),
            "members": universe.member_count,
            "generate_s": generate_s,
            "features_s": time.perf_counter() - t0,
            "peak_mb": _peak_rss_mb(),
            "peak_mb_after_generating": before,
            "load_average_1m": [load, os.getloadavg()[0]],
            "rows": len(table),
            "checksum": _checksum(table),
        }
    )


def phase_scale_cluster(q):
    from distributed import Client

    from features.config import FeatureConfig
    from features.dataset import MarketDataset
    from features.distributed import local_cluster

    bars, universe, _ = _scale()
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    cluster = local_cluster(CLUSTER_WORKERS, processes=True, memory_limit=0)  # no spilling: memory as it is
    t1 = time.perf_counter()
    with Client(cluster) as client:
        before = client.run(_peak_rss_mb)
        cfg = FeatureConfig(cluster=cluster.scheduler_address)  # the scheduler address path, as for a real cluster
        t2 = time.perf_counter()
        table = MarketDataset.from_bars(bars, universe, "demo", cfg).features
        t3 = time.perf_counter()
        workers = client.run(_peak_rss_mb)
    cluster.close()
    q.put(
        {
            "workers": CLUSTER_WORKERS,
            "cluster_start_s": t1 - t0,
            "features_s": t3 - t2,
            "client_peak_mb": _peak_rss_mb(),
            "worker_peak_mb": sorted(workers.values()),
            "worker_peak_mb_at_start": sorted(before.values()),
            "load_average_1m": [load, os.getloadavg()[0]],
            "rows": len(table),
            "checksum": _checksum(table),
        }
    )


def main() -> int:
    figures: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count()}
    figures["sp500"] = run_phase(phase_sp500)
    print(json.dumps(figures["sp500"]), flush=True)
    figures["scale_in_process"] = run_phase(phase_scale_in_process)
    print(json.dumps(figures["scale_in_process"]), flush=True)
    figures["scale_cluster"] = run_phase(phase_scale_cluster)
    ours, dask = figures["scale_in_process"], figures["scale_cluster"]
    figures["cluster_over_in_process"] = {
        "features_time": dask["features_s"] / ours["features_s"],
        "peak_memory_per_worker": max(dask["worker_peak_mb"]) / ours["peak_mb"],
        "same_bits": dask["checksum"] == ours["checksum"],
    }
    figures["targets"] = {
        "sp500_features_under_5s": figures["sp500"]["features_s"] < 5,
        "scale_features_under_30s": ours["features_s"] < 30,
        "scale_peak_under_4gb": ours["peak_mb"] < 4096,
    }
    write_results("universe.json", figures)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
