"""Cost of breadth and of the drill-down / rotation answers, each against a baseline measured in the same run.

- scale case (10 sectors x 200 members x 20 years): the feature table with the breadth block against the same
  table without it (the same panels, members left out), each phase in its own process (its own peak memory);
- one sector's drill-down (POST /sector's function) and the rotation graph (POST /rotation's) against the
  heatmap (POST /heatmap's build_heatmap) on the same dataset, uncached, median of repeats.

Writes bench/results/breadth.json. Run: `PYTHONPATH=. .venv/bin/python bench/breadth_bench.py`.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import _peak_mb, _scale_market, run_phase, write_results  # (the one bench runner)

REPEATS = 7


def _scale(q, members: bool) -> None:
    from features.dataset import MarketDataset
    from features.table import build_feature_table

    bars, universe = _scale_market()
    ds = MarketDataset.from_bars(bars, universe, "demo")
    panels = ds.panels if members else replace(ds.panels, members=None)
    t0 = time.perf_counter()
    table = build_feature_table(panels, ds.config)
    q.put({"features_s": time.perf_counter() - t0, "columns": table.shape[1], "peak_mb": _peak_mb()})


def phase_scale_with_breadth(q) -> None:
    _scale(q, True)


def phase_scale_without_breadth(q) -> None:
    _scale(q, False)


def _median_s(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def phase_answers(q) -> None:
    from features.breadth import sector_drilldown
    from features.dataset import MarketDataset
    from features.rotation import sector_rotation
    from serving.heatmap import build_heatmap
    from serving.request import HeatmapRequest

    out = {}
    for name, source in (("etf", "demo:years=20,seed=1"), ("members", "demo:sectors=10,stocks=200,years=20,seed=1")):
        ds = MarketDataset.load(source, "us_sectors")
        _ = ds.features  # built once per data refresh in the service: not part of a request
        key = ds.universe.sectors[0].key
        req = HeatmapRequest.parse({})
        heat = _median_s(lambda ds=ds, req=req: build_heatmap(ds, req))
        drill = _median_s(lambda ds=ds, key=key: sector_drilldown(ds, key, "1M"))
        rot = _median_s(lambda ds=ds: sector_rotation(ds))
        out[name] = {
            "heatmap_ms": 1e3 * heat,
            "sector_drilldown_ms": 1e3 * drill,
            "rotation_ms": 1e3 * rot,
            "drilldown_vs_heatmap": drill / heat,
            "rotation_vs_heatmap": rot / heat,
        }
    q.put(out)


def main() -> int:
    figures: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S")}
    without = run_phase(phase_scale_without_breadth)
    with_ = run_phase(phase_scale_with_breadth)
    figures["scale_features"] = {
        "without_breadth": without,
        "with_breadth": with_,
        "ratio_with_to_without": with_["features_s"] / without["features_s"],
    }
    figures["answers_uncached"] = run_phase(phase_answers)
    write_results("breadth.json", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
