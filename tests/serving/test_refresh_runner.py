"""The refresh loop on a controllable clock with a fake yfinance: on schedule, never when closed, a failed
refresh keeps the state and marks answers stale, a hanging one is abandoned at its deadline, requests never
wait, only a swap clears the cache. No network; real time only for the loop's short ticks."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import pandas as pd
import pytest
from fake_market import FakeMarket

from features.settings import ConfigFile
from features.sources.yahoo import CACHE_ENV
from serving.engine import HeatmapEngine
from serving.freshness import mark_stale
from serving.live import build_live_state
from serving.refresher import Refresher
from serving.schemas import HeatmapResponse, MatrixResponse
from serving.state import ServerSettings, StateLoader

NY = "America/New_York"


def ny(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=NY).tz_convert("UTC")


@pytest.fixture
def make(tmp_path, monkeypatch):
    """make(now, **serving) -> (fake market, refresher) over a state built by the live path at `now`."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    loaders: list[StateLoader] = []

    def build(now, steps=None, **serving):
        s = ServerSettings.from_file(ConfigFile.read(None), "yfinance", store_dir=str(tmp_path / "none"), environ={})
        s = replace(s, cfg=replace(s.cfg, **serving))
        fake = FakeMarket(now)
        loader = StateLoader()
        loaders.append(loader)
        engine = HeatmapEngine(s, state=loader.run(build_live_state, s, 1, fake.market(), None))
        engine.now = fake.clock
        return fake, Refresher(s, engine, loader, fake.market(), asyncio.Lock(), extra_steps=steps)

    yield build
    for loader in loaders:
        loader.shutdown()


async def until(cond, seconds: float = 30.0) -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < seconds, "condition not reached"
        await asyncio.sleep(0.02)


def test_refreshes_on_schedule_and_swaps_atomically(make):
    fake, r = make(ny("2025-12-02 10:07"))
    engine = r.engine
    assert r.enabled and r.status.next_due == ny("2025-12-02 10:15")

    async def scenario():
        await engine.heatmap({})  # a cached answer of generation 1
        assert len(engine.cache) == 1
        r.start()
        await asyncio.sleep(0.3)  # ticks with the clock standing at 10:07: nothing due, nothing happens
        assert engine.state.generation == 1 and len(fake.intraday_calls) == 1 and len(engine.cache) == 1
        fake.advance(minutes=8)  # 10:15: due
        await until(lambda: engine.state.generation == 2)
        assert len(engine.cache) == 0  # the swap, and only the swap, cleared the cache
        assert r.status.outcome == "ok" and r.status.next_due == ny("2025-12-02 10:30")
        assert len(fake.intraday_calls) == 2 and len(fake.daily_calls) == 1  # daily already complete: not asked
        body, _, _ = await engine.heatmap({})
        blk = r.block(None)
        assert blk["market_open"] and blk["intraday"] and not blk["stale"]
        assert blk["data_as_of"] == "2025-12-02T15:15:00Z" and blk["data_age_s"] == 0.0  # the 10:00 bar ends 10:15
        marked = json.loads(r.mark(body, None))
        assert marked["refresh"]["outcome"] == "ok" and marked["intraday"] is True
        HeatmapResponse.model_validate(marked)  # the declared schema, intraday marks and refresh block included
        matrix, _ = await engine.matrix({})
        MatrixResponse.model_validate(json.loads(r.mark(matrix, None)))
        fake.advance(hours=6)  # 16:15: past the 16:05 after-close slot
        await until(lambda: engine.state.generation == 3)
        assert engine.state.universes["us_sectors"].dataset.data_through == pd.Timestamp("2025-12-02")
        assert engine.state.universes["us_sectors"].intraday is None
        assert r.status.next_due == ny("2025-12-03 09:30")
        await r.stop()

    asyncio.run(scenario())


def test_nothing_while_closed_holiday_and_weekend(make):
    fake, r = make(ny("2025-11-27 11:00"))  # Thanksgiving
    assert r.status.next_due == ny("2025-11-28 09:30") and fake.intraday_calls == []

    async def scenario():
        r.start()
        for hours in (3, 6, 8):  # Thanksgiving afternoon, evening and night: closed
            fake.advance(hours=hours)
            await asyncio.sleep(0.2)
        assert r.engine.state.generation == 1 and r.status.outcome == "startup"
        assert not r.block(None)["market_open"]
        fake.now = ny("2025-11-28 13:06")  # the early close (13:00) has passed: the after-close refresh runs
        await until(lambda: r.engine.state.generation == 2)
        assert r.status.next_due == ny("2025-12-01 09:30")  # then nothing over the weekend
        fake.now = ny("2025-11-29 12:00")
        await asyncio.sleep(0.3)
        assert r.engine.state.generation == 2
        await r.stop()

    asyncio.run(scenario())


def test_a_failed_refresh_keeps_the_state_marks_stale_and_backs_off(make):
    fake, r = make(ny("2025-12-02 10:07"))
    engine = r.engine

    async def scenario():
        body, _, _ = await engine.heatmap({})
        fake.advance(minutes=8)
        fake.fail = True  # yfinance offline: empty frames, never an exception
        assert await r.refresh_once() == "failed"
        assert engine.state.generation == 1 and len(engine.cache) == 1  # kept, cache untouched
        st = r.status
        assert st.failures == 1 and "SPY" in st.error and st.next_due == fake.now + pd.Timedelta(seconds=30)
        marked = json.loads(r.mark(body, None))
        assert marked["stale"] is True and marked["freshness"]["stale"] is False
        engine.refresh_mark = r.mark_dict  # as the service wires it: the MCP heatmap tool says the same
        agent, _ = await engine.agent_heatmap({})
        assert agent["stale"] is True and agent["refresh"] == {
            **r.block(None),
            "data_age_s": agent["refresh"]["data_age_s"],
        }
        assert marked["refresh"]["stale"] and "failed" in marked["refresh"]["stale_reason"]
        assert marked["refresh"]["data_age_s"] == 8 * 60.0  # the old state's data: as of its download at 10:07
        fake.advance(seconds=30)
        assert await r.refresh_once() == "failed"
        assert r.status.failures == 2 and r.status.next_due == fake.now + pd.Timedelta(seconds=60)
        fake.fail = False
        fake.advance(seconds=60)
        assert await r.refresh_once() == "ok"
        assert engine.state.generation == 2 and r.status.failures == 0 and not r.block(None)["stale"]

    asyncio.run(scenario())


def test_a_hanging_refresh_is_abandoned_at_its_deadline_and_requests_never_wait(make):
    fake, r = make(ny("2025-12-02 10:07"), refresh_deadline_s=3.0)
    engine = r.engine

    async def scenario():
        await engine.heatmap({"timeframe": "1W"})
        fake.advance(minutes=8)
        fake.hang_s = 30.0
        refresh = asyncio.create_task(r.refresh_once())
        await asyncio.sleep(0.1)  # the build is now blocked in the fake download on the loader thread
        t0 = time.perf_counter()
        _, hit, _ = await engine.heatmap({"timeframe": "1W"})
        _, miss, _ = await engine.heatmap({"timeframe": "3M"})  # computed meanwhile, on another thread
        assert hit and not miss and time.perf_counter() - t0 < 5
        assert await refresh == "timeout"
        assert engine.state.generation == 1 and r.status.failures == 1 and "deadline" in r.status.error
        assert await r.refresh_once() == "failed" and "still running" in r.status.error
        fake.hang_s = 0.0
        fake.release.set()  # the abandoned build finishes now ... and is never swapped in
        await until(lambda: r._pending is not None and r._pending.done())
        assert engine.state.generation == 1
        assert await r.refresh_once() == "ok" and engine.state.generation == 2

    asyncio.run(scenario())


def test_extra_refresh_steps_run_before_the_swap_and_never_fail_it(make):
    seen = []

    def news(state):  # given the new state while the old one still serves: the swap then shows what it stored
        seen.append((state.generation, r.engine.state.generation))

    def broken(state):
        raise RuntimeError("headline source down")

    fake, r = make(ny("2025-12-02 10:07"), steps={"news": news, "broken": broken})
    fake.advance(minutes=8)
    assert asyncio.run(r.refresh_once()) == "ok"
    assert (
        seen == [(2, 1)]
        and r.engine.state.generation == 2
        and r.status.steps["news"] == "ok"
        and "headline source down" in r.status.steps["broken"]
    )
    assert r.status_document()["refresh"]["extra_steps"]["news"] == "ok"


def test_status_document(make):
    fake, r = make(ny("2025-12-02 10:07"))
    doc = r.status_document()
    assert doc["refresh"]["next_refresh"] == "2025-12-02T15:15:00Z" and doc["refresh"]["outcome"] == "startup"
    u = doc["universes"]["us_sectors"]
    assert u["market_open"] and u["session"] == "2025-12-02" and u["intraday"]
    assert u["data_through"] == "2025-12-01" and u["data_age_s"] == 0.0  # the 10:00 bar, forming: as of 10:07
    assert u["intraday_last_bar"] == "2025-12-02T15:00:00Z"
    assert doc["clock"] == "fake"


def test_mark_stale_touches_only_the_top_level_flag():
    body = b'{"a":1,"stale":false,"freshness":{"stale":false}}'
    assert json.loads(mark_stale(body, b"{}", True)) == {
        "a": 1,
        "stale": True,
        "freshness": {"stale": False},
        "refresh": {},
    }
    already = b'{"stale":true,"freshness":{"stale":false}}'
    assert json.loads(mark_stale(already, b"{}", True))["freshness"]["stale"] is False
    assert json.loads(mark_stale(b'{"rows":[]}', b'{"x":1}', True)) == {"rows": [], "refresh": {"x": 1}}


def test_a_start_on_the_cache_alone_is_stale_until_a_refresh_gets_through(make, tmp_path):
    fake, first = make(ny("2025-12-01 16:10"))  # fills the cache through Monday
    fake2 = FakeMarket(ny("2025-12-02 16:10"))
    fake2.fail = True  # Tuesday: yfinance is down when the next server starts
    s = first.settings
    loader = StateLoader()
    try:
        engine = HeatmapEngine(s, state=loader.run(build_live_state, s, 1, fake2.market(), None))
        r = Refresher(s, engine, loader, fake2.market(), asyncio.Lock())
        assert engine.state.universes["us_sectors"].dataset.source.kind == "cache"
        assert r.block(None)["stale"] and "cache" in r.status.error
        assert r.status.next_due == ny("2025-12-02 16:10:30")
        fake2.fail = False
        fake2.advance(seconds=30)
        assert asyncio.run(r.refresh_once()) == "ok" and not r.block(None)["stale"]
        assert engine.state.universes["us_sectors"].dataset.data_through == pd.Timestamp("2025-12-02")
    finally:
        loader.shutdown()
