"""The forecast log on the serving path and the live figures on the card (issue 11, live scorecard).

Real SQLite files in a temporary model store; the engine is the one the service and the MCP server share.
The live metrics themselves are checked against an independent pandas computation in
tests/model/test_scorecard_replay.py; here: what is logged when, that logging never fails an answer, and
that a drift alarm reaches the card and the health score.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3

import numpy as np
import pandas as pd
import pytest
from serving_builders import SIGNIFICANT, make_champion
from test_browser import browser  # noqa: F401  (the real Chromium fixture)

from features.settings import ConfigFile
from serving.engine import HeatmapEngine
from serving.heatmap import compute_heatmap
from serving.request import HeatmapRequest
from serving.schemas import ModelInfoResponse
from serving.state import ServerSettings, ServingState, UniverseState
from training.forecast_log import DB_FILE, ForecastLog

TRAINED_TO = "2023-12-29"  # make_champion's training window end


@pytest.fixture()
def store(tmp_path):
    """A folder holding an MLflow database file (the log lives beside one; its content is not read here)."""
    (tmp_path / "mlflow.db").write_bytes(b"")
    return tmp_path


def engine_for(store, market, champion) -> HeatmapEngine:
    settings = ServerSettings.from_file(ConfigFile.read(None), "csv:/data/us_daily", str(store))
    name = settings.cfg.universes[0]
    return HeatmapEngine(settings, ServingState({name: UniverseState(market, champion, "ok")}, 1, 0.0))


def logged(store) -> pd.DataFrame:
    """The log read with plain sqlite3 (not through the product's reader)."""
    path = store / DB_FILE
    if not path.is_file():
        return pd.DataFrame()
    con = sqlite3.connect(path)
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'forecasts'").fetchone():
            return pd.DataFrame()
        return pd.read_sql_query("SELECT * FROM forecasts", con)
    finally:
        con.close()


def ask(engine, **raw):
    body, hit, _ = asyncio.run(engine.heatmap(raw))
    import json

    return json.loads(body), hit


def test_latest_forecast_is_logged_once_with_its_interval(store, market, champion_significant):
    eng = engine_for(store, market, champion_significant)
    resp, hit = ask(eng)
    assert not hit
    rows = logged(store)
    day = market.panels.dates[-1].date().isoformat()
    assert set(rows["date"]) == {day}
    assert set(rows["horizon"]) == {"1W", "1M", "3M"}
    assert len(rows) == 3 * len(resp["sectors"])
    assert set(rows["model_version"]) == {"3"} and set(rows["model_name"]) == {"sector-heatmap-us_sectors"}
    # the logged numbers are the served ones (the response rounds pp to 2 decimals)
    xlk = rows[(rows["sector"] == "XLK") & (rows["horizon"] == "1M")].iloc[0]
    cell = next(s for s in resp["sectors"] if s["ticker"] == "XLK")["predicted"]["1M"]
    assert 100 * xlk["prediction"] == pytest.approx(cell["expected_rel_return_pp"], abs=0.006)
    assert [100 * xlk["lower"], 100 * xlk["upper"]] == pytest.approx(cell["interval_pp"], abs=0.006)
    assert xlk["prob_outperform"] == pytest.approx(cell["prob_outperform"], abs=0.0006)
    assert xlk["lower"] < xlk["prediction"] < xlk["upper"]


def test_cached_and_repeated_answers_never_write_again(store, market, champion_significant, monkeypatch):
    eng = engine_for(store, market, champion_significant)
    writes = []
    real = ForecastLog.write
    monkeypatch.setattr(ForecastLog, "write", lambda self, rows: writes.append(len(rows)) or real(self, rows))
    ask(eng)
    _, hit = ask(eng)
    assert hit
    ask(eng, timeframe="1W")  # another answer for the same date and model: no second write
    ask(eng, metrics=["performance"])
    assert len(writes) == 1
    assert len(logged(store)) == writes[0]


def test_dates_the_model_trained_on_are_never_logged(store, market, champion_significant):
    eng = engine_for(store, market, champion_significant)
    ask(eng, as_of="2023-06-30")  # inside the training window: would score in-sample fit
    ask(eng, as_of="2024-01-03")  # after the last training row but before the next sample session
    assert logged(store).empty
    ask(eng, as_of="2024-01-08")  # the 5th session after 2023-12-29: out of sample
    assert set(logged(store)["date"]) == {"2024-01-08"}


def test_a_partial_bar_is_never_a_forecast_date(store, market, champion_significant):
    eng = engine_for(store, market, champion_significant)
    name, u = eng.resolve()
    last = market.panels.dates[-1]
    req = HeatmapRequest.parse({}, eng.cfg)
    during = compute_heatmap(market, req, u.champion, "ok", eng.cfg, now=last + pd.Timedelta(hours=15))
    eng.live.record(u, during)  # 15:00 UTC on the last bar's own day: the session is not over
    assert logged(store).empty
    after = compute_heatmap(market, req, u.champion, "ok", eng.cfg, now=last + pd.Timedelta(days=1, hours=1))
    eng.live.record(u, after)  # the next morning: that bar is complete
    assert set(logged(store)["date"]) == {last.date().isoformat()}


def test_no_model_store_means_no_log_and_no_error(tmp_path, market, champion_significant):
    eng = engine_for(tmp_path, market, champion_significant)  # no mlflow.db: serving never creates a store
    resp, _ = ask(eng)
    assert list(tmp_path.iterdir()) == []
    assert "live" not in resp["model"]["skill"]["1M"]  # nothing logged, nothing to show


def test_a_corrupt_log_is_set_aside_and_rebuilt(store, market, champion_significant):
    (store / DB_FILE).write_bytes(b"this is not a database at all" * 100)
    eng = engine_for(store, market, champion_significant)
    resp, _ = ask(eng)
    assert resp["sectors"] and resp["model"] is not None
    assert len(logged(store)) == 3 * len(resp["sectors"])
    assert [p.name for p in store.iterdir() if p.name.startswith(f"{DB_FILE}.corrupt-")]
    info = eng.model_info()  # the card of this state was taken before the log was rebuilt
    assert info["model"]["skill"]["1W"]["live"]["status"].startswith("unavailable")
    eng.swap(eng.state)
    info = eng.model_info()
    assert info["model"]["skill"]["1W"]["live"]["status"].startswith("rebuilt")


def test_a_locked_log_skips_logging_and_says_so(store, market, champion_significant):
    eng = engine_for(store, market, champion_significant)
    holder = sqlite3.connect(store / DB_FILE)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        resp, _ = ask(eng)
        assert resp["sectors"]
        assert eng.live.forecast_log.status.startswith("busy")
    finally:
        holder.rollback()
        holder.close()
    assert logged(store).empty
    ask(eng, timeframe="1W")  # the next computed answer for that date logs it
    assert len(logged(store)) == 3 * len(resp["sectors"])
    assert eng.live.forecast_log.status == "ok"


def overconfident(champion):
    """The same champion with intervals far too narrow: live coverage will collapse."""
    fc = champion.forecaster
    horizons = {
        h: dataclasses.replace(hm, residuals=sorted(np.linspace(-1e-5, 1e-5, 50).tolist()))
        for h, hm in fc.horizons.items()
    }
    fc2 = dataclasses.replace(fc, horizons=horizons)
    fc2._boosters = fc._boosters
    return dataclasses.replace(champion, forecaster=fc2)


def served_after_replay(store, market, champion) -> tuple[HeatmapEngine, dict]:
    """Serve every 5th past session of Jan-May 2024 (all matured in the data), then the latest 1W heatmap."""
    eng = engine_for(store, market, champion)
    dates = market.panels.dates
    for day in dates[(dates >= "2024-01-08") & (dates <= "2024-05-31")][::5]:
        ask(eng, as_of=day.date().isoformat(), timeframe="1W")
    eng.swap(eng.state)  # the next load (a data refresh): the scorecard is a snapshot per loaded state
    resp, _ = ask(eng, timeframe="1W")
    return eng, resp


def test_drift_alarm_zeroes_the_predicted_weight_and_says_so(store, market, tmp_path_factory):
    champion = overconfident(make_champion(tmp_path_factory.mktemp("drift"), SIGNIFICANT))
    eng, resp = served_after_replay(store, market, champion)
    live = resp["model"]["skill"]["1W"]["live"]
    assert live["n_matured"] >= 22 and live["coverage_recent"] < 0.65
    assert live["drift"] is True and "DRIFT ALARM" in live["summary"]
    assert any("coverage" in r and "below 65%" in r for r in live["drift_reasons"])
    assert "LIVE DRIFT ALARM" in resp["model"]["skill"]["1W"]["summary"]
    assert resp["health"]["weights"]["predicted"] == 0.0 and resp["health"]["skill_factor"] == 0.0
    assert "DRIFT" in resp["health"]["predicted_note"]
    info = ModelInfoResponse.model_validate(eng.model_info())  # GET /model's schema (unknown keys forbidden)
    live_card = info.model.skill["1W"].live if info.model else None
    assert live_card is not None and live_card.drift is True and live_card.n_matured == live["n_matured"]


def test_a_live_rank_ic_interval_below_zero_is_a_drift_alarm(store, market, champion_significant):
    """This toy champion (trained on noise) ranks the toy market's planted drifts backwards: live IC < 0."""
    _, resp = served_after_replay(store, market, champion_significant)
    live = resp["model"]["skill"]["1W"]["live"]
    assert live["rank_ic_ci_high"] < 0 and live["coverage_recent"] >= 0.65
    assert live["drift_reasons"] == [
        f"the live rank IC interval [{live['rank_ic_ci_low']:+.2f}, {live['rank_ic_ci_high']:+.2f}] lies below zero"
    ]
    assert resp["health"]["weights"]["predicted"] == 0.0
    # the same model without live evidence against it keeps the weight its backtest earned
    fresh = engine_for(store.parent / "elsewhere", market, champion_significant)
    resp, _ = ask(fresh, timeframe="1W")
    assert resp["health"]["weights"]["predicted"] > 0.0


def test_page_draws_backtest_and_live_skill_offline(store, market, tmp_path_factory):
    import re

    from serving.render import heatmap_html

    champion = overconfident(make_champion(tmp_path_factory.mktemp("page"), SIGNIFICANT))
    _, resp = served_after_replay(store, market, champion)
    page = heatmap_html(resp)
    section = page[
        page.index("<section id='model-skill-charts'>") : page.index("</section>", page.index("model-skill-charts"))
    ]
    assert "src=" not in page and "href=" not in page and "<script" not in page  # offline: nothing fetched
    rows = re.findall(r"<tr class='skill-row' data-horizon='(\w+)'>", section)
    assert rows == ["1W", "1M", "3M"]
    live = resp["model"]["skill"]["1W"]["live"]
    circles = [float(x) for x in re.findall(r"<circle class='ic-mean' cx='([-\d.]+)'", section)]
    # backtest then live per horizon; x = 130 + IC / 0.3 * 80, pinned to the axis
    assert circles[0] == pytest.approx(130 + 0.05 / 0.3 * 80, abs=0.06)
    assert circles[1] == pytest.approx(130 + max(-0.3, min(0.3, live["rank_ic_mean"])) / 0.3 * 80, abs=0.06)
    first_row = section[: section.index("</tr>", section.index("skill-row"))]
    bars = re.findall(
        r"<rect class='coverage-bar' x='50' y='\d+' width='([\d.]+)'[^>]*><title>([^<]+)</title>", first_row
    )
    # this card has no backtest coverage (n/a, no bar): live, then the recent window
    assert [t.split(" coverage")[0] for _, t in bars] == ["live", f"last {live['window_weeks']}w"]
    assert float(bars[0][0]) == pytest.approx(150 * live["interval_coverage"], abs=0.06)
    assert float(bars[1][0]) == pytest.approx(150 * live["coverage_recent"], abs=0.06)
    assert "DRIFT ALARM" in section


def test_mcp_forecast_card_carries_the_live_scorecard_and_the_alarm(store, market, tmp_path_factory):
    """Through the real MCP SDK client: the tool's output schema (ModelCard) validates the live block."""
    from test_mcp import in_process

    champion = overconfident(make_champion(tmp_path_factory.mktemp("mcp"), SIGNIFICANT))
    eng, resp = served_after_replay(store, market, champion)

    async def work(client):
        return (await client.call_tool("get_sector_forecast", {"horizon": "1W"})).structured_content

    out = in_process(eng, work)
    live = out["model"]["skill"]["1W"]["live"]
    assert live == resp["model"]["skill"]["1W"]["live"] and live["drift"] is True
    assert "LIVE DRIFT ALARM" in out["skill"]["1W"]


@pytest.mark.slow
def test_skill_charts_render_in_chromium(store, market, tmp_path_factory, browser):  # noqa: F811
    """The charts are drawn by a real browser: visible, sized, nothing fetched from the network."""
    from concurrent.futures import ThreadPoolExecutor

    from test_browser import ARTIFACTS

    from serving.render import heatmap_html

    champion = overconfident(make_champion(tmp_path_factory.mktemp("chromium"), SIGNIFICANT))
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        _, resp = pool.submit(served_after_replay, store, market, champion).result()
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.set_content(heatmap_html(resp))
        charts = page.locator("#model-skill-charts svg.chart-ic")
        assert charts.count() == 3
        for i in range(3):
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] == 260 and box["height"] == 44
        assert page.locator("#model-skill-charts svg.chart-coverage").first.is_visible()
        assert page.locator("#model-skill-charts .drift-alarm").first.inner_text() == "DRIFT ALARM"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#model-skill-charts").screenshot(path=str(ARTIFACTS / "model_skill.png"))
    finally:
        page.close()
    assert requests == []
