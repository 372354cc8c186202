"""Builders for serving tests: a small deterministic market (11 sector ETFs vs SPY) and a tiny real champion."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.bars import tidy_bars
from features.dataset import MarketDataset
from features.universe import load_universe

SESSIONS = 420
LAST_DAY = "2024-06-28"  # a Friday


def make_bars(n: int = SESSIONS, seed: int = 7, end: str = LAST_DAY) -> pd.DataFrame:
    """GBM-ish bars: a common market factor plus a per-sector drift (sector i drifts (i-5) x 4 bp/day)."""
    uni = load_universe("us_sectors")
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(end=end, periods=n)
    market = rng.normal(0.0003, 0.01, n)
    frames = []
    tickers = [s.ticker for s in uni.sectors] + [uni.benchmark]
    for i, t in enumerate(tickers):
        is_bench = t == uni.benchmark
        drift = 0.0 if is_bench else (i - 5) * 0.0004
        r = market + drift + (0.0 if is_bench else rng.normal(0, 0.008, n))
        close = 50.0 * np.exp(np.cumsum(r))
        wiggle = np.abs(rng.normal(0, 0.006, n))
        frames.append(
            pd.DataFrame(
                {
                    "date": dates,
                    "ticker": t,
                    "open": np.r_[close[0], close[:-1]],
                    "high": close * (1 + wiggle),
                    "low": close * (1 - wiggle),
                    "close": close,
                    "volume": rng.lognormal(15, 0.3, n) * (1 + 0.5 * (r > 0)),
                }
            )
        )
    return tidy_bars(pd.concat(frames, ignore_index=True))


def make_dataset(source: str = "csv:/data/us_daily", **kw) -> MarketDataset:
    uni = load_universe("us_sectors")
    bars = make_bars(**kw)
    return MarketDataset.from_bars(bars, uni, source)


FEATURES = ["rel_ret_1m", "rel_ret_3m", "mom_12_1", "vol_21d"]


def skill(mean: float, lo: float, hi: float, significant: bool) -> dict:
    return {
        "rank_ic_mean": mean,
        "rank_ic_ci_low": lo,
        "rank_ic_ci_high": hi,
        "t_stat": 2.5 if significant else 0.4,
        "significant": significant,
    }


def make_champion(directory, skills: dict[str, dict]):
    """A real SectorForecaster: one tiny LightGBM booster per horizon, trained on random data."""
    import lightgbm as lgb

    from training.forecaster import HorizonModel, SectorForecaster
    from training.registry import ChampionModel

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, len(FEATURES)))
    boosters, horizons = {}, {}
    for j, (h, n) in enumerate({"1W": 5, "1M": 21, "3M": 63}.items()):
        y = 0.01 * X[:, j % len(FEATURES)] + rng.normal(0, 0.005, len(X))
        boosters[h] = lgb.train(
            {"objective": "regression", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5},
            lgb.Dataset(X, y, feature_name=FEATURES),
            num_boost_round=10,
        )
        horizons[h] = HorizonModel(
            sessions=n,
            kind="regression",
            booster_file=f"{h}.txt",
            residuals=sorted(rng.normal(0, 0.02, 200).tolist()),
            skill=skills.get(h, {}),
        )
    fc = SectorForecaster(feature_names=list(FEATURES), horizons=horizons, training_window=("2015-01-02", "2023-12-29"))
    fc.save(directory, boosters)
    card = {
        "name": "sector-heatmap-us_sectors",
        "version": "3",
        "run_id": "abc123",
        "trained_at": "2024-01-05T10:00:00Z",
        "training_window": ["2015-01-02", "2023-12-29"],
        "data_source": "csv:/data/us_daily",
        "skill": skills,
    }
    return ChampionModel(forecaster=SectorForecaster.load(directory), card=card)


INSIGNIFICANT = {h: skill(0.03, -0.01, 0.07, False) for h in ("1W", "1M", "3M")}
SIGNIFICANT = {h: skill(0.05, 0.02, 0.08, True) for h in ("1W", "1M", "3M")}


# ---- the service under test -------------------------------------------------------------------
DEMO_SOURCE = "demo:years=6,seed=5"  # ~0.7 s to generate; the same spec for the model and the server
READY_TIMEOUT_S = 90
STOP_TIMEOUT_S = 30


def tiny_train_config():
    from training.config import TrainConfig

    return TrainConfig(
        num_boost_round=30,
        objectives=("regression",),
        horizons={"1W": 5, "1M": 21, "3M": 63},
        first_test_year=2000,
        n_boot=200,
    )


def train_demo_store(store):
    """Train a tiny model on DEMO_SOURCE and register it (as champion) in `store`; returns the store path."""
    from training.tracking import log_and_register
    from training.train import train

    result = train(MarketDataset.load(DEMO_SOURCE, "us_sectors"), tiny_train_config())
    logged = log_and_register(result, str(store))
    if not logged["gate"].promoted:  # a random-walk demo loses to the best baseline; the server still needs one
        from mlflow import MlflowClient

        MlflowClient().set_registered_model_alias(logged["model_name"], "champion", logged["version"])
    return store


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real `sector-heatmap serve` process (which execs `bentoml serve`), bounded start and stop."""

    def __init__(self, store, workdir, source: str = DEMO_SOURCE, api_key: str | None = None):
        import os

        from serving.auth import API_KEY_ENV
        from serving.state import SOURCE_ENV
        from training.config import STORE_ENV

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log = workdir / "server.log"
        self.env = {
            **os.environ,
            SOURCE_ENV: source,
            STORE_ENV: str(store),
            "BENTOML_HOME": str(workdir / "bentoml"),
            "PYTHONUNBUFFERED": "1",
        }  # `serve` itself sets BENTOML_DO_NOT_TRACK
        self.env.pop(API_KEY_ENV, None)
        if api_key:
            self.env[API_KEY_ENV] = api_key
        self.proc = None
        self.ready_seconds = None

    def __enter__(self) -> LiveServer:
        import subprocess
        import sys
        import time

        import httpx

        t0 = time.perf_counter()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "serving.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.perf_counter() - t0 < READY_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    self.ready_seconds = time.perf_counter() - t0
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready within {READY_TIMEOUT_S} s:\n{self.tail()}")

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def stop(self) -> int | None:
        """SIGTERM, then (only if it hangs) SIGKILL to the process group this server started."""
        import os
        import signal
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            raise RuntimeError(f"server ignored SIGTERM for {STOP_TIMEOUT_S} s; killed\n{self.tail()}") from None

    def __exit__(self, *exc) -> None:
        self.stop()
