"""The scheduled refresh in a real `bentoml serve` on loopback, with a fake clock and a fake yfinance behind
the declared test seam (SECTOR_HEATMAP_TEST_SEAM, tests/serving/fake_market.py): it refreshes on schedule,
swaps state without a failed request, marks stale data after a failed refresh and shows intraday moves."""

from __future__ import annotations

import threading
import time

import httpx
import pandas as pd
import pytest
from fake_market import CONTROL_ENV, SEAM, write_control

from features.sources.yahoo import CACHE_ENV
from serving.state import TEST_SEAM_ENV

pytestmark = pytest.mark.slow
NY = "America/New_York"


def ny(text: str) -> str:
    return pd.Timestamp(text, tz=NY).tz_convert("UTC").isoformat()


def wait_for(http: httpx.Client, cond, seconds: float = 60.0) -> dict:
    t0 = time.monotonic()
    while True:
        doc = http.get("/status").json()
        if cond(doc):
            return doc
        assert time.monotonic() - t0 < seconds, doc
        time.sleep(0.1)


def test_served_refresh_on_a_fake_clock(tmp_path):
    from serving_builders import LiveServer

    control = tmp_path / "control.json"
    write_control(control, now=ny("2025-12-02 10:07"), tick_s=0.1)
    server = LiveServer(tmp_path / "no_store", tmp_path, source="yfinance")
    server.env.update({TEST_SEAM_ENV: SEAM, CONTROL_ENV: str(control), CACHE_ENV: str(tmp_path / "cache")})
    with server, httpx.Client(base_url=server.url, timeout=30) as http:
        doc = http.get("/status").json()
        assert doc["clock"].startswith("test seam fake_market.py") and doc["generation"] == 1
        assert doc["refresh"]["outcome"] == "startup" and doc["refresh"]["next_refresh"] == "2025-12-02T15:15:00Z"
        assert doc["universes"]["us_sectors"]["market_open"] is True

        statuses: list[int] = []
        stop = threading.Event()

        def hammer() -> None:  # cached requests the whole time: none may fail across the swaps
            with httpx.Client(base_url=server.url, timeout=30) as h:
                while not stop.is_set():
                    statuses.append(h.post("/heatmap", json={"timeframe": "1W"}).status_code)

        worker = threading.Thread(target=hammer)
        worker.start()
        try:
            write_control(control, now=ny("2025-12-02 10:15"), tick_s=0.1)  # due
            doc = wait_for(http, lambda d: d["generation"] == 2)
            assert doc["refresh"]["outcome"] == "ok" and doc["refresh"]["next_refresh"] == "2025-12-02T15:30:00Z"
            body = http.post("/heatmap", json={}).json()
            assert body["intraday"] is True and body["intraday_last_bar"] == "2025-12-02T15:00:00Z"
            assert body["data_through"] == "2025-12-01" and body["stale"] is False
            assert body["refresh"]["outcome"] == "ok" and body["refresh"]["market_open"] is True
            assert any(c.get("intraday") for c in body["columns"]["descriptive"])
            # the refresh's news step (fake Ticker.news, both item shapes) stored and scored headlines before the swap
            news = {r["ticker"]: r for r in body["sectors"]}
            assert doc["refresh"]["extra_steps"]["news"] == "ok", doc["refresh"]
            assert news["XLK"]["descriptive"]["news_sentiment"] > 0 > news["XLE"]["descriptive"]["news_sentiment"]
            xlk = http.post("/news", json={"sector": "XLK", "days": 1}).json()
            own = [h for h in xlk["headlines"] if h["title"].startswith("XLK ")]  # the ETF's (its holdings' too)
            assert len(own) == 2 and {h["provider"] for h in xlk["headlines"]} == {"Fake Wire"}
            assert all(h["score"] > 0 for h in own), own

            write_control(control, now=ny("2025-12-02 10:30"), tick_s=0.1, fail=True)  # yfinance goes dark
            doc = wait_for(http, lambda d: d["refresh"]["outcome"] == "failed")
            assert doc["generation"] == 2 and doc["refresh"]["stale"] is True
            stale = http.post("/heatmap", json={}).json()
            assert stale["stale"] is True and stale["refresh"]["stale"] is True
            assert "refresh" in stale["refresh"]["stale_reason"] and stale["refresh"]["data_age_s"] == 15 * 60.0
            assert stale["intraday"] is True  # the previous state, still served
            matrix = http.post("/matrix", json={}).json()
            assert matrix["refresh"]["stale"] is True

            write_control(control, now=ny("2025-12-02 10:31"), tick_s=0.1)  # back: the backoff retry succeeds
            doc = wait_for(http, lambda d: d["generation"] == 3 and d["refresh"]["outcome"] == "ok")
            assert http.post("/heatmap", json={}).json()["stale"] is False

            write_control(control, now=ny("2025-12-02 16:06"), tick_s=0.1)  # after the close
            doc = wait_for(http, lambda d: d["generation"] == 4)
            closed = http.post("/heatmap", json={}).json()
            assert "intraday" not in closed and closed["data_through"] == "2025-12-02"
            assert closed["refresh"]["intraday"] is False
            assert doc["universes"]["us_sectors"]["market_open"] is False
            assert doc["refresh"]["next_refresh"] == "2025-12-03T14:30:00Z"
        finally:
            stop.set()
            worker.join(30)
        assert len(statuses) > 20 and set(statuses) == {200}, sorted(set(statuses))
        metrics = http.get("/metrics").text
        assert "sector_heatmap_refresh_last_success 1.0" in metrics
        assert 'sector_heatmap_refresh_total{outcome="failed"}' in metrics
        assert 'sector_heatmap_data_age_seconds{universe="us_sectors"}' in metrics
        assert server.stop() == 0, server.tail()
