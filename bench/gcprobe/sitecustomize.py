"""Bench only: bench/serve_bench.py puts this directory first on the server's PYTHONPATH (with
SECTOR_HEATMAP_GC_LOG set), so every Python process of the server logs its garbage-collector pauses:
one line "<unix time> <pid> <generation> <ms>" per collection of generation 1 or 2, and per generation-0
collection of 1 ms or more. Why: to tell whether a latency tail is the collector's, from outside the worker,
without touching the product. Without the variable it does nothing."""

import os

_PATH = os.environ.get("SECTOR_HEATMAP_GC_LOG")

if _PATH:
    import gc
    import time

    _out = open(_PATH, "a", buffering=1)  # noqa: SIM115 - open for the life of the process, line-buffered
    _t0 = [0.0]

    def _pause(phase: str, info: dict) -> None:
        if phase == "start":
            _t0[0] = time.perf_counter()
            return
        ms = (time.perf_counter() - _t0[0]) * 1000.0
        if info["generation"] or ms >= 1.0:
            _out.write(f"{time.time():.4f} {os.getpid()} {info['generation']} {ms:.3f}\n")

    gc.callbacks.append(_pause)
