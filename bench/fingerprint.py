"""Fingerprints of what the product computes, to prove a refactor changed no figure.

Hashes (sha256 of values, index and columns) of: the feature table and labels on the shared
dumps and on the demo market; the walk-forward out-of-sample predictions of a full `train` on
the shared dumps (default training config); the heatmap JSON for fixed dates and a fixed clock,
served by that run's forecaster; the scale case's sector levels and feature table.

Usage: .venv/bin/python bench/fingerprint.py [OUT.json]   (run before and after, then diff)
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "us_daily"
NOW = pd.Timestamp("2023-01-03 15:00", tz="UTC")  # fixed clock: freshness is part of the response
HEATMAP_DATES = ("2022-12-30", "2020-03-23", "2008-10-10")


def frame_hash(df: pd.DataFrame | pd.Series) -> str:
    h = hashlib.sha256(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    h.update(repr(list(df.columns) if isinstance(df, pd.DataFrame) else df.name).encode())
    return h.hexdigest()[:16]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dataset(source: str):
    from features.dataset import MarketDataset

    return MarketDataset.load(source, "us_sectors")


def heatmaps(ds, forecaster) -> dict:
    from serving.heatmap import build_heatmap
    from serving.request import HeatmapRequest
    from training.registry import ChampionModel

    card = {
        "name": "fingerprint",
        "version": "1",
        "run_id": "r",
        "trained_at": "2023-01-01T00:00:00+00:00",
        "training_window": list(forecaster.training_window),
        "data_source": forecaster.info.get("data_source"),
        "skill": {h: hm.skill for h, hm in forecaster.horizons.items()},
    }
    champion = ChampionModel(forecaster, json.loads(json.dumps(card, default=str)))
    out = {}
    for day in HEATMAP_DATES:
        for tf in ("1W", "1M", "3M"):
            req = HeatmapRequest.parse({"as_of": day, "timeframe": tf}, today=NOW)
            resp = build_heatmap(ds, req, champion, "ok", now=NOW)
            out[f"{day}/{tf}"] = text_hash(json.dumps(resp, sort_keys=True))
    req = HeatmapRequest.parse({"as_of": HEATMAP_DATES[0]}, today=NOW)
    out["no_model"] = text_hash(json.dumps(build_heatmap(ds, req, None, None, now=NOW), sort_keys=True))
    return out


def main() -> int:
    from training.config import TrainConfig
    from training.train import train

    out: dict = {}
    t0 = time.perf_counter()
    demo = dataset("demo")
    out["demo_features"] = frame_hash(demo.features)
    out["demo_labels"] = frame_hash(demo.labels(TrainConfig().horizons))
    if SHARED.is_dir():
        ds = dataset(f"csv:{SHARED}")
        out["shared_features"] = frame_hash(ds.features)
        out["shared_labels"] = frame_hash(ds.labels(TrainConfig().horizons))
        result = train(ds, TrainConfig())
        for h, hr in result.horizons.items():
            out[f"walk_forward_oos_{h}"] = frame_hash(hr.walk_forward.oos)
            out[f"metrics_{h}"] = text_hash(json.dumps(hr.metrics, sort_keys=True, default=str))
        out["forecaster_meta"] = text_hash(
            json.dumps(
                {h: [hm.offset, hm.slope, hm.residuals, hm.skill] for h, hm in result.forecaster.horizons.items()},
                default=str,
            )
        )
        out["heatmap"] = heatmaps(ds, result.forecaster)
    else:
        print(f"no shared data at {SHARED}: walk-forward and heatmap fingerprints skipped", file=sys.stderr)
    from features.dataset import MarketDataset

    sys.path.insert(0, str(ROOT / "bench"))
    from run import SCALE_SOURCE, _scale_market

    bars, universe = _scale_market()
    scale = MarketDataset.from_bars(bars, universe, SCALE_SOURCE)
    out["scale_checksum"] = float(scale.panels.close.iloc[-1].sum())
    out["scale_features"] = frame_hash(scale.features)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(out, indent=1)
    print(text)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
