"""Training time on the shared real data: every model family vs LightGBM alone, in the same run.

Target (issue 11): `train --source csv:../shared/data/us_daily` with all model families < 60 s on
this 2-core machine, with LightGBM fitting at least half of it. The machine is shared, so besides the
wall time each run reports its CPU time (user + sys of the child process), which contention inflates
far less; the LightGBM-only run measured here is the baseline for the ratio.
Writes bench/results/train_families.json.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, SHARED, write_results  # (the one bench runner)

CLI = Path(sys.executable).parent / "sector-heatmap"


def train_once(families: list[str]) -> dict:
    """One `sector-heatmap train` (MLflow logging included) in a fresh temporary store."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.yaml"
        cfg.write_text(json.dumps({"training": {"store_dir": f"{tmp}/mlruns", "families": families}}))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [str(CLI), "train", "--source", f"csv:{SHARED}", "--config", str(cfg)],
            capture_output=True,
            text=True,
            cwd=tmp,
            env=env,
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    text = " ".join((proc.stdout + proc.stderr).split())
    fit = float(re.search(r"LightGBM fitting ([\d.]+)s", text).group(1))  # type: ignore[union-attr]
    other = re.search(r"other families ([\d.]+)s", text)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "lgbm_fit_s": fit,
        "other_families_fit_s": float(other.group(1)) if other else 0.0,
        "lgbm_share_of_wall": round(fit / wall, 3),
        "load_avg_1m": os.getloadavg()[0],
    }


def main() -> int:
    if not SHARED.is_dir():
        print(f"skipping: {SHARED} is absent")
        return 0
    figures = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpus": os.cpu_count(),
        "lgbm_only": train_once([]),
        "all_families": train_once(["linear", "signals", "macro"]),
    }
    base, full = figures["lgbm_only"], figures["all_families"]
    if "error" not in base and "error" not in full:
        figures["all_vs_lgbm_only_wall"] = round(full["wall_s"] / base["wall_s"], 3)
        figures["all_vs_lgbm_only_cpu"] = round(full["cpu_s"] / base["cpu_s"], 3)
    write_results("train_families.json", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
