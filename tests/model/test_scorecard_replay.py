"""Replaying history through the live scorecard (issue 11).

A model is trained on the demo market (planted signal) up to a cut-off. The clock then moves forward:
at each step the service holds only the data up to that day (`MarketDataset.upto`) and answers the
latest heatmap, which logs its forecasts. Finally the clock reaches the end of the data and the
scorecard of the matured forecasts is read from `/model` (the engine) and from `sector-heatmap
scorecard`, and both are compared with an independent computation: realised relative returns straight
from the bars with pandas, the forecasts read from the SQLite file with sqlite3, the metrics by hand.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from model_builders import demo_loaded, small_config

from features.settings import ConfigFile
from serving.engine import HeatmapEngine
from serving.state import ServerSettings, ServingState, UniverseState
from training.forecast_log import DB_FILE
from training.registry import ChampionModel
from training.train import train

CUT = "2021-12-31"  # the model sees data up to here
LIVE_END = "2022-12-30"  # the service answers every 5th session from the cut to here
HORIZONS = {"1W": 5, "1M": 21}


pytestmark = pytest.mark.slow  # trains a model and serves ~50 days (about a minute on 2 cores)


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    from training import store as mlstore

    ds = demo_loaded(signal=0.3, seed=21, years=9, end="2023-06-30")
    cfg = small_config(horizons=HORIZONS)
    fc = train(ds.upto(CUT), cfg).forecaster
    card = {
        "name": "sector-heatmap-us_sectors-demo",
        "version": "7",
        "run_id": "replay-run",
        "training_window": list(fc.training_window),
        "skill": {h: hm.skill for h, hm in fc.horizons.items()},
    }
    champion = ChampionModel(fc, card)
    store = tmp_path_factory.mktemp("replay_store")
    mlstore.open_store(store, cfg.experiment, create=True)  # a real MLflow store: the log lives beside it
    settings = ServerSettings.from_file(ConfigFile.read(None), "demo", str(store))
    name = settings.cfg.universes[0]
    dates = ds.panels.dates
    live_days = dates[(dates > pd.Timestamp(CUT)) & (dates <= pd.Timestamp(LIVE_END))][::5]
    engine = None
    for gen, day in enumerate(live_days, start=1):  # the clock moves forward one step at a time
        state = ServingState({name: UniverseState(ds.upto(day), champion, "ok")}, gen, 0.0)
        if engine is None:
            engine = HeatmapEngine(settings, state)
        else:
            engine.swap(state)
        asyncio.run(engine.heatmap({"timeframe": "1M"}))
    assert engine is not None
    engine.swap(ServingState({name: UniverseState(ds, champion, "ok")}, len(live_days) + 1, 0.0))
    return ds, fc, store, engine, live_days, cfg


def independent_scorecard(ds, store, horizon: str, sessions: int) -> dict:
    """The scorecard computed without the product's scorecard or metrics code."""
    con = sqlite3.connect(store / DB_FILE)
    try:
        log = pd.read_sql_query("SELECT * FROM forecasts WHERE horizon = ?", con, params=(horizon,))
    finally:
        con.close()
    bars = ds.bars
    close = bars.pivot(index="date", columns="ticker", values="close").sort_index()
    bench = ds.universe.benchmark
    rel = np.log(close.drop(columns=bench)).sub(np.log(close[bench]), axis=0)
    realised = (rel.shift(-sessions) - rel).stack().rename("realised")
    log["date"] = pd.to_datetime(log["date"])
    joined = log.join(realised, on=["date", "sector"]).dropna(subset=["realised"])
    ics, hits, spreads = [], [], []
    for _, g in joined.groupby("date"):
        ics.append(g["prediction"].rank().corr(g["realised"].rank()))
        dp, dr = g["prediction"] - g["prediction"].mean(), g["realised"] - g["realised"].mean()
        called = (dp != 0) & (dr != 0)
        hits.extend((np.sign(dp[called]) == np.sign(dr[called])).tolist())
        order = g.sort_values("prediction", ascending=False)["realised"]
        spreads.append(order.iloc[:3].mean() - order.iloc[-3:].mean())
    inside = (joined["lower"] <= joined["realised"]) & (joined["realised"] <= joined["upper"])
    return {
        "n_forecasts": len(log),
        "n_matured": len(joined),
        "n_dates_matured": joined["date"].nunique(),
        "rank_ic_mean": float(np.mean(ics)),
        "hit_rate": float(np.mean(hits)),
        "spread_mean": float(np.mean(spreads)),
        "interval_coverage": float(inside.mean()),
    }


def test_every_served_day_is_logged_once_per_sector_and_horizon(replay):
    ds, fc, store, engine, live_days, _ = replay
    con = sqlite3.connect(store / DB_FILE)
    try:
        rows = con.execute("SELECT date, COUNT(*) FROM forecasts GROUP BY date ORDER BY date").fetchall()
    finally:
        con.close()
    # served days after the training data's last possible session (last training row + 5 sessions)
    dates = ds.panels.dates
    first = dates[dates.get_loc(pd.Timestamp(fc.training_window[1])) + 5]
    assert first > pd.Timestamp(CUT)
    assert [d for d, _ in rows] == [d.date().isoformat() for d in live_days if d >= first]
    assert len(rows) >= len(live_days) - 1
    sectors = ds.panels.close.shape[1]
    assert {n for _, n in rows} == {sectors * len(HORIZONS)}


@pytest.mark.parametrize("horizon", list(HORIZONS))
def test_model_card_live_scorecard_matches_an_independent_calculation(replay, horizon):
    ds, _, store, engine, _, _ = replay
    live = engine.model_info()["model"]["skill"][horizon]["live"]
    want = independent_scorecard(ds, store, horizon, HORIZONS[horizon])
    assert want["n_matured"] == want["n_forecasts"] > 400  # the data runs past the last forecast's horizon
    for key in ("n_forecasts", "n_matured", "n_dates_matured"):
        assert live[key] == want[key], key
    for key in ("rank_ic_mean", "hit_rate", "spread_mean", "interval_coverage"):
        assert live[key] == pytest.approx(want[key], abs=1e-9), key
    assert live["rank_ic_ci_low"] < live["rank_ic_mean"] < live["rank_ic_ci_high"]
    assert live["status"] == "ok"
    # the planted signal shows live too, and the intervals hold: no drift alarm
    assert live["rank_ic_mean"] > 0.05 and live["drift"] is False


def test_scorecard_command_prints_and_logs_one_mlflow_run_per_model_version(replay, capsys, monkeypatch):
    from mlflow import MlflowClient

    from serving.cli import main
    from training.scorecard import SCORECARD_OF_TAG

    ds, _, store, _, _, cfg = replay
    monkeypatch.setenv("SECTOR_HEATMAP_STORE", str(store))
    spec = "demo:years=9,seed=21,signal=0.3"
    monkeypatch.setattr("features.cli.load_dataset", lambda args: ds)  # the replay's data (same knobs, fixed end)
    monkeypatch.setattr("serving.scorecard_cli.load_dataset", lambda args: ds)
    for _ in range(2):
        assert main(["scorecard", "--source", spec, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [model] = out["models"]
    assert (model["name"], model["version"]) == ("sector-heatmap-us_sectors-demo", "7")
    want = independent_scorecard(ds, store, "1M", 21)
    assert model["horizons"]["1M"]["rank_ic_mean"] == pytest.approx(want["rank_ic_mean"], abs=1e-9)
    runs = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name(cfg.experiment).experiment_id],
        filter_string=f"tags.`{SCORECARD_OF_TAG}` = 'sector-heatmap-us_sectors-demo/v7'",
    )
    assert len(runs) == 1  # one run per model version, reused by the second call
    run = runs[0]
    assert run.data.metrics["live_rank_ic_mean_1M"] == pytest.approx(want["rank_ic_mean"], abs=1e-9)
    assert run.data.metrics["live_n_matured_1W"] == independent_scorecard(ds, store, "1W", 5)["n_matured"]
    assert main(["scorecard", "--source", spec, "--no-mlflow"]) == 0
    assert "DRIFT" not in capsys.readouterr().out
