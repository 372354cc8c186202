"""Today's partial bar: shown in the relative-return columns, marked intraday, and never anywhere near the
model (no feature, no label, no cache file, no prediction changes). Fake yfinance and clock, no network."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fake_market import FakeMarket, intraday_frame
from serving_builders import INSIGNIFICANT, make_champion

from features.settings import ConfigFile
from features.sources.intraday import load_intraday
from features.sources.yahoo import CACHE_ENV, cache_path
from serving.engine import HeatmapEngine
from serving.live import build_live_state
from serving.state import ServerSettings

NY = "America/New_York"
IN_SESSION = pd.Timestamp("2025-12-02 14:00", tz=NY).tz_convert("UTC")  # a Tuesday, 14:00 in New York


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))

    def make(**serving) -> ServerSettings:
        raw = ConfigFile.read(None)
        s = ServerSettings.from_file(raw, "yfinance", store_dir=str(tmp_path / "no_store"), environ={})
        return replace(s, cfg=replace(s.cfg, **serving))

    return make


def heatmap(engine: HeatmapEngine, **raw) -> dict:
    body, _, _ = asyncio.run(engine.heatmap(raw))
    return json.loads(body)


def with_champion(state, champion):
    u = state.universes["us_sectors"]
    return replace(state, universes={"us_sectors": replace(u, champion=champion, model_status="ok")})


def test_in_session_the_data_and_features_stop_at_yesterday_and_today_is_a_separate_view(settings, tmp_path):
    fake = FakeMarket(IN_SESSION)
    state = build_live_state(settings(), 1, fake.market(), None)
    u = state.universes["us_sectors"]
    yesterday, today = pd.Timestamp("2025-12-01"), pd.Timestamp("2025-12-02")
    assert u.dataset.data_through == yesterday
    assert u.dataset.bars["date"].max() == yesterday
    assert u.dataset.features.index.get_level_values("date").max() == yesterday
    assert u.dataset.panels.dates[-1] == yesterday
    labels = u.dataset.labels({"1W": 5})
    assert labels.index.get_level_values("date").max() <= yesterday
    cached = pd.read_csv(cache_path(tmp_path / "cache", "XLK"))
    assert cached["Date"].max() == "2025-12-01"  # the wild partial daily row Yahoo sent never reached the cache
    view = u.intraday
    assert view is not None and view.session == today
    assert view.last_bar == pd.Timestamp("2025-12-02 13:45", tz=NY).tz_convert("UTC")
    # one batched download of each kind for every ticker
    assert len(fake.daily_calls) == 1 and len(fake.intraday_calls) == 1
    assert set(fake.intraday_calls[0]) == {s.ticker for s in u.dataset.universe.sectors} | {"SPY"}


def test_the_partial_bar_moves_the_relative_returns_and_nothing_else(settings, tmp_path):
    """The proof that no partial bar reaches the model: with today's intraday move turned upside down (and
    with intraday switched off) every prediction, health score and feature-based cell is identical, while
    the relative returns follow the partial bar exactly."""
    champion = make_champion(tmp_path / "champ", INSIGNIFICANT)
    fake = FakeMarket(IN_SESSION)
    cfg = settings()
    first = with_champion(build_live_state(cfg, 1, fake.market(), None), champion)
    fake.intraday_scale = -5.0
    flipped = build_live_state(cfg, 2, fake.market(), first)  # a refresh: same daily data, new partial bar
    assert flipped.universes["us_sectors"].dataset is first.universes["us_sectors"].dataset  # features not rebuilt
    off = with_champion(build_live_state(settings(intraday_interval=""), 1, fake.market(), None), champion)
    assert off.universes["us_sectors"].intraday is None

    bodies = []
    for st in (first, flipped, off):
        engine = HeatmapEngine(cfg, state=st)
        engine.now = fake.clock
        bodies.append(heatmap(engine, timeframe="1M"))
    a, b, c = bodies
    assert a["model_status"] == "ok" and a["intraday"] and b["intraday"] and "intraday" not in c
    assert a["intraday_last_bar"] == "2025-12-02T18:45:00Z" and a["as_of"] == a["data_through"] == "2025-12-01"

    def by_ticker(body, part):
        return {s["ticker"]: s[part] for s in body["sectors"]}

    assert by_ticker(a, "predicted") == by_ticker(b, "predicted") == by_ticker(c, "predicted")
    for part in ("health_score", "health_components"):
        assert by_ticker(a, part) == by_ticker(b, part) == by_ticker(c, part)
    for body in (a, b):
        for s in body["sectors"]:
            other = {k: v for k, v in s["descriptive"].items() if not k.startswith("rel_return")}
            ref = next(x for x in c["sectors"] if x["ticker"] == s["ticker"])["descriptive"]
            assert other == {k: v for k, v in ref.items() if not k.startswith("rel_return")}

    # the 1D cell is today's partial move vs yesterday's close, sector minus SPY, computed independently
    bars = intraday_frame(["XLK", "SPY"], IN_SESSION, scale=-5.0)
    daily = first.universes["us_sectors"].dataset.panels
    move = {
        t: bars[("Close", t)].iloc[-1] / (daily.benchmark["close"].iloc[-1] if t == "SPY" else daily.close[t].iloc[-1])
        - 1
        for t in ("XLK", "SPY")
    }
    xlk = next(s for s in b["sectors"] if s["ticker"] == "XLK")
    assert xlk["descriptive"]["rel_return_pp"]["1D"] == pytest.approx(100 * (move["XLK"] - move["SPY"]), abs=2e-3)
    xlk_a = next(s for s in a["sectors"] if s["ticker"] == "XLK")["descriptive"]["rel_return_pp"]["1D"]
    xlk_c = next(s for s in c["sectors"] if s["ticker"] == "XLK")["descriptive"]["rel_return_pp"]["1D"]
    assert len({xlk_a, xlk["descriptive"]["rel_return_pp"]["1D"], xlk_c}) == 3
    marked = [col["key"] for col in a["columns"]["descriptive"] if col.get("intraday")]
    assert marked and all(k.startswith("rel_return_pp.") for k in marked)
    assert not any(col.get("intraday") for col in c["columns"]["descriptive"])


def test_a_past_date_never_shows_today(settings):
    fake = FakeMarket(IN_SESSION)
    state = build_live_state(settings(), 1, fake.market(), None)
    engine = HeatmapEngine(settings(), state=state)
    engine.now = fake.clock
    body = heatmap(engine, as_of="2025-11-28")
    assert "intraday" not in body and body["as_of"] == "2025-11-28"


def test_after_the_close_the_session_is_complete_and_there_is_no_intraday(settings):
    fake = FakeMarket(IN_SESSION + pd.Timedelta(hours=2, minutes=10))  # 16:10 New York
    state = build_live_state(settings(), 1, fake.market(), None)
    u = state.universes["us_sectors"]
    assert u.dataset.data_through == pd.Timestamp("2025-12-02") and u.intraday is None
    assert fake.intraday_calls == []  # closed: no intraday download at all
    xlk = u.dataset.bars.query("ticker == 'XLK'").iloc[-1]
    assert not np.isclose(xlk["close"], u.dataset.bars.query("ticker == 'XLK'").iloc[-2]["close"] * 1.5)


def test_intraday_source_keeps_only_bars_of_today_s_session_before_now():
    fake = FakeMarket(IN_SESSION)
    got = load_intraday(["XLK", "SPY"], "XNYS", IN_SESSION, downloader=fake.intraday)
    assert got is not None and list(got.bars["ticker"]) == ["XLK", "SPY"]
    assert got.through == pd.Timestamp("2025-12-02 14:00", tz=NY).tz_convert("UTC")
    assert load_intraday(["XLK"], "XNYS", pd.Timestamp("2025-12-06 15:00", tz="UTC"), downloader=fake.intraday) is None
    fake.fail = True
    failed = load_intraday(["XLK"], "XNYS", IN_SESSION, downloader=fake.intraday)
    assert failed is not None and failed.bars.empty and "XLK" in failed.failed


def test_a_refresh_replacing_demo_data_never_keeps_the_demo_model(settings, tmp_path):
    """auto fell back to the demo market at start; the first refresh that reaches yfinance brings real data
    and asks the registry again (a demo-trained champion must never score real prices)."""
    from features.dataset import MarketDataset

    fake = FakeMarket(IN_SESSION)
    cfg = settings()
    real = build_live_state(cfg, 1, fake.market(), None)
    u = real.universes["us_sectors"]
    demo_ds = MarketDataset.from_bars(u.dataset.bars, u.dataset.universe, "demo:seed=7")
    demo = replace(u, dataset=demo_ds, champion=make_champion(tmp_path / "champ", INSIGNIFICANT), model_status="ok")
    started = replace(real, universes={"us_sectors": demo})
    new = build_live_state(cfg, 2, fake.market(), started).universes["us_sectors"]
    assert new.dataset is not demo_ds and new.dataset.source.label == "yfinance"
    assert new.champion is None and new.model_status != "ok"
