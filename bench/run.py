"""`make bench`: performance figures, each phase in its own process so peak memory is its own.

Targets (issues): 11-sector features over the shared history < 2 s; 2,000 stocks x 10 sectors x
20 years: features < 60 s and < 4 GB peak, with the ratio against a per-ticker pandas loop
measured in the same run; `train` on the shared data < 2 min with total / LightGBM-fit < 2.
Figures go to bench/results/latest.json and are appended to bench/results/history.jsonl.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "us_daily"
RESULTS = ROOT / "bench" / "results"


def write_results(name: str, figures: dict, indent: int = 1) -> None:
    """Write one bench script's figures to bench/results/<name> and print them (every script ends so)."""
    text = json.dumps(figures, indent=indent)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(text + "\n")
    print(text)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_etf_features(q):
    from features.dataset import MarketDataset
    from features.sources.market import load_market
    from features.universe import load_universe

    universe = load_universe("us_sectors")
    t0 = time.perf_counter()
    market = load_market(f"csv:{SHARED}", universe)  # read + validate
    t1 = time.perf_counter()
    table = MarketDataset.from_market(market, universe).features  # panels + features
    t2 = time.perf_counter()
    q.put(
        {
            "load_validate_s": t1 - t0,
            "features_s": t2 - t1,
            "rows": len(table),
            "columns": table.shape[1],
            "peak_mb": _peak_mb(),
        }
    )


SCALE_SOURCE = "demo:sectors=10,stocks=200,years=20,seed=1"


def _scale_market():
    from dataclasses import asdict

    from features.sources.data_source import DataSource
    from features.sources.demo import demo_market

    knobs = DataSource.parse(SCALE_SOURCE).knobs
    return demo_market(end="2022-12-30", **asdict(knobs))


def phase_scale_ours(q):
    from features.dataset import MarketDataset

    t0 = time.perf_counter()
    bars, universe = _scale_market()
    t1 = time.perf_counter()
    ds = MarketDataset.from_bars(bars, universe, SCALE_SOURCE)
    panels, table = ds.panels, ds.features
    t2 = time.perf_counter()
    q.put(
        {
            "generate_s": t1 - t0,
            "features_s": t2 - t1,
            "bars": len(bars),
            "rows": len(table),
            "peak_mb": _peak_mb(),
            "checksum": float(panels.close.iloc[-1].sum()),
        }
    )


def phase_scale_loop(q):
    """The straightforward way: one pandas Series per ticker, averaged per sector with concat."""
    import pandas as pd

    from features.dataset import MarketDataset
    from features.universe import Sector, Universe

    bars, universe = _scale_market()
    t0 = time.perf_counter()
    per_sector = {}
    for s in universe.sectors:
        rets = []
        for m in s.members:
            b = bars[bars["ticker"] == m].set_index("date")["close"]
            rets.append(b.pct_change(fill_method=None).rename(m))
        r = pd.concat(rets, axis=1).mean(axis=1)
        per_sector[s.name] = 100 * (1 + r.fillna(0)).cumprod()
    closes = pd.DataFrame(per_sector)
    # same features afterwards, on ETF-like sector bars (close only; OHLC = close)
    rows = []
    for name, c in closes.items():
        rows.append(
            pd.DataFrame({"date": c.index, "ticker": name, "open": c, "high": c, "low": c, "close": c, "volume": 1.0})
        )
    bench = bars[bars["ticker"] == universe.benchmark]
    sector_bars = pd.concat([*rows, bench], ignore_index=True)
    etf_universe = Universe(
        name="loop",
        benchmark=universe.benchmark,
        sectors=tuple(Sector(name=s.name, ticker=s.name) for s in universe.sectors),
    )
    table = MarketDataset.from_bars(sector_bars, etf_universe, "demo").features
    q.put(
        {
            "features_s": time.perf_counter() - t0,
            "peak_mb": _peak_mb(),
            "checksum": float(closes.iloc[-1].sum()),
            "rows": len(table),
        }
    )


def run_phase(fn) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=fn, args=(q,))
    proc.start()
    out = q.get()
    proc.join()
    return out


def train_timing() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.yaml"
        cfg.write_text(f"training:\n  store_dir: {tmp}/mlruns\n")
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(ROOT / ".venv/bin/sector-heatmap"), "train", "--source", f"csv:{SHARED}", "--config", str(cfg)],
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    fit = float(re.search(r"LightGBM fitting ([\d.]+)s", proc.stderr).group(1))
    return {"wall_s": wall, "lgbm_fit_s": fit, "ratio_total_to_fit": wall / fit}


def main() -> int:
    figures: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count()}
    if SHARED.is_dir():
        figures["etf_features"] = run_phase(phase_etf_features)
    else:
        print(f"skipping the shared-data figures: {SHARED} is absent")
    figures["scale_ours"] = run_phase(phase_scale_ours)
    figures["scale_per_ticker_loop"] = run_phase(phase_scale_loop)
    figures["scale_speedup"] = figures["scale_per_ticker_loop"]["features_s"] / figures["scale_ours"]["features_s"]
    if SHARED.is_dir() and "--no-train" not in sys.argv:
        figures["train_shared"] = train_timing()
    write_results("latest.json", figures)
    with open(RESULTS / "history.jsonl", "a") as fh:
        fh.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
