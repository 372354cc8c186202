"""The MCP server (serving/mcp_server.py) and the engine under it (serving/engine.py).

Fast: HeatmapEngine in-process (the heatmap path of the service, caching, errors naming the field), and
the MCP tools through the SDK's in-process client. Slow: a real MCP client session (`ClientSession` over
`stdio_client`) against `sector-heatmap mcp` started as a subprocess on the demo market with a tiny
champion in a temporary model store, its answers checked against `build_heatmap` computed here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from serving_builders import DEMO_SOURCE, READY_TIMEOUT_S

from features.config import FeatureConfig
from features.dataset import MarketDataset
from features.errors import RequestError
from features.overview import MACRO, macro_indicators, market_overview
from features.rotation import sector_rotation
from features.settings import ConfigFile
from features.sources.yahoo import CACHE_ENV
from features.stock import stock_analysis
from serving.config import ServingConfig
from serving.engine import HeatmapEngine, utc_day
from serving.heatmap import build_heatmap
from serving.news import NewsDesk, heatmap_with_news
from serving.request import HeatmapRequest
from serving.state import ServerSettings, ServingState, UniverseState
from training.config import STORE_ENV

TOOLS = {
    "get_sector_heatmap",
    "get_market_overview",
    "get_macro_indicators",
    "get_sector_rotation",
    "get_sector_drilldown",
    "get_sector_forecast",
    "get_stock_analysis",
    "get_sector_news",
    "list_universes",
}
CALL_TIMEOUT_S = 60
CFG = ServingConfig()


def run(coro):
    return asyncio.run(coro)


def without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


# ---- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_ds() -> MarketDataset:
    """The market `sector-heatmap mcp --source DEMO_SOURCE` serves."""
    return MarketDataset.load(DEMO_SOURCE, "us_sectors")


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> ServerSettings:
    """No model store (the engine's champion is given): nothing is logged, and never into the repo's mlruns/."""
    return ServerSettings.from_file(ConfigFile.read(None), DEMO_SOURCE, str(tmp_path_factory.mktemp("no_store")))


@pytest.fixture
def engine(settings, demo_ds, champion_insignificant) -> HeatmapEngine:
    state = ServingState({"us_sectors": UniverseState(demo_ds, champion_insignificant, "ok")}, 1, 0.0)
    return HeatmapEngine(settings, state)


@pytest.fixture(scope="module")
def as_of(demo_ds) -> str:
    """A session well inside the data (not the last one, so as_of is really used)."""
    return demo_ds.panels.dates[-30].date().isoformat()


# ---- the engine ----------------------------------------------------------------------------------
def test_engine_heatmap_is_the_service_path(engine, demo_ds, champion_insignificant, as_of):
    raw = {"timeframe": "1w", "metrics": ["predicted", "performance"], "as_of": as_of}
    body, hit, key = run(engine.heatmap(raw))
    assert not hit
    u = engine.state.universes["us_sectors"]
    assert key == (
        1,
        "us_sectors",
        as_of,
        "1W",
        ("performance", "predicted"),
        None,
        u.model_version,
        u.data_version,
        utc_day(),
    )
    req = HeatmapRequest.parse(raw, CFG)
    expected = heatmap_with_news(demo_ds, req, champion_insignificant, "ok", CFG, engine.news)
    got = json.loads(body)  # (the news block says when news was read: a moment, like the timestamp)
    assert without(got, "timestamp", "news") == json.loads(json.dumps(without(expected, "timestamp", "news")))
    plain = build_heatmap(demo_ds, req, champion_insignificant, "ok", CFG)  # the heatmap under the news
    assert [s["health_score"] for s in got["sectors"]] == [s["health_score"] for s in plain["sectors"]]
    assert got["model_status"] == "ok" and all(s["predicted"] for s in got["sectors"])
    again, hit, key2 = run(engine.heatmap(raw))
    assert hit and again is body and key2 == key


def test_engine_matrix_model_info_status(engine, demo_ds, as_of):
    from features.matrix import rotation_matrix

    body, hit = run(engine.matrix({"as_of": as_of}))
    m = json.loads(body)
    expected = rotation_matrix(demo_ds.panels, demo_ds.universe, HeatmapRequest.parse({"as_of": as_of}).as_of)
    assert without(m, "universe", "data_source", "is_demo") == json.loads(json.dumps(expected.to_dict()))
    assert m["is_demo"] is True and not hit and run(engine.matrix({"as_of": as_of}))[1]
    info = engine.model_info()
    assert info["model_status"] == "ok" and info["model"]["version"] == "3"
    assert engine.status()["generation"] == 1 and set(engine.status()["universes"]) == {"us_sectors"}


def test_engine_tools_wrap_the_domain_functions_and_cache(engine, demo_ds, as_of):
    day = HeatmapRequest.parse({"as_of": as_of}).as_of
    ov = run(engine.overview(None, as_of))
    assert without(ov, "is_demo", "freshness") == market_overview(demo_ds, day)
    assert ov["is_demo"] is True and ov["freshness"]["data_through"] == demo_ds.data_through.date().isoformat()
    assert run(engine.macro(["vix", "gold"], None, as_of)) == macro_indicators(demo_ds, ["vix", "gold"], day)
    assert run(engine.macro(None, "us_sectors", as_of)) == macro_indicators(demo_ds, None, day)
    assert without(run(engine.rotation("us_sectors", as_of)), "is_demo") == sector_rotation(demo_ds, day)
    st = run(engine.stock(" xlk ", None, as_of))
    assert without(st, "universe", "is_demo") == stock_analysis(demo_ds, "XLK", day)
    entries = len(engine.cache)
    for _ in range(2):  # answered from the cache: nothing new computed
        run(engine.overview(None, as_of))
        run(engine.macro("vix,gold", None, as_of))
        run(engine.stock("XLK", None, as_of))
    assert len(engine.cache) == entries


def test_engine_forecast_copies_the_heatmap(engine, as_of):
    heat = json.loads(run(engine.heatmap({"as_of": as_of}))[0])
    fc = run(engine.forecast(None, None, as_of))
    assert fc["horizons"] == ["1W", "1M", "3M"] and fc["model"] == heat["model"]
    preds = {s["ticker"]: s["predicted"] for s in heat["sectors"]}
    assert {s["ticker"]: s["predicted"] for s in fc["sectors"]} == preds
    assert fc["skill"] == {h: heat["model"]["skill"][h]["summary"] for h in fc["horizons"]}
    assert "not distinguishable from zero" in fc["skill_meaning"]
    one = run(engine.forecast("1M", None, as_of))
    assert one["horizons"] == ["1M"] and all(set(s["predicted"]) == {"1M"} for s in one["sectors"])
    ranks = [s["predicted"]["1M"]["rank"] for s in one["sectors"]]
    assert ranks == sorted(ranks)  # best first (ties share the average rank)


def test_engine_agent_heatmap_adds_overview_and_skill(engine, as_of):
    raw = {"timeframe": "1M", "as_of": as_of}
    out, _ = run(engine.agent_heatmap(raw))
    body, hit, _ = run(engine.heatmap(raw))
    assert hit and without(out, "market_overview", "skill") == json.loads(body)
    ov = run(engine.overview(None, as_of))
    assert out["market_overview"].startswith(out["market_context"])
    b = ov["breadth"]["1M"]
    assert f"{b['beat_benchmark']} of {b['sectors']} sectors beat SPY over 1M" in out["market_overview"]
    assert ov["volatility_regime"]["regime"] in out["market_overview"]
    assert out["model"]["skill"]["1M"]["summary"] in out["skill"] and "not distinguishable from zero" in out["skill"]
    assert "no weight in the health score" in out["skill"]


def test_engine_without_a_model(settings, demo_ds, as_of):
    state = ServingState({"us_sectors": UniverseState(demo_ds, None, "no_champion: none registered")}, 1, 0.0)
    eng = HeatmapEngine(settings, state)
    fc = run(eng.forecast("1W", None, as_of))
    assert fc["model"] is None and fc["skill"] == {} and all(s["predicted"] == {} for s in fc["sectors"])
    assert "no_champion" in fc["skill_meaning"]
    out, _ = run(eng.agent_heatmap({"as_of": as_of}))
    assert out["skill"].startswith("No model predictions (no_champion: none registered)")


def _future() -> str:
    return (dt.date.today() + dt.timedelta(days=40)).isoformat()


ENGINE_ERRORS = [
    (lambda e: e.resolve("nope"), "universe: unknown 'nope'; this server serves us_sectors"),
    (lambda e: e.overview("/etc/passwd"), "universe: unknown '/etc/passwd'"),
    (lambda e: e.overview(None, "2024-13-45"), "as_of: 2024-13-45 is not a calendar date"),
    (lambda e: e.overview(None, _future()), "is in the future"),
    (lambda e: e.rotation(None, "1950-01-03"), "as_of: 1950-01-03 is before the data starts"),
    (lambda e: e.macro(["bogus"]), "indicators: unknown 'bogus'; valid: vix, yield_10y"),
    (lambda e: e.macro(5), "indicators: expected a list of names"),
    (lambda e: e.stock("NOPE"), "ticker: unknown 'NOPE'; this data can analyse CL=F"),
    (lambda e: e.stock(""), "ticker: expected a ticker symbol"),
    (lambda e: e.forecast("5Y"), "horizon: unknown '5Y'; expected one of 1W, 1M, 3M"),
    (lambda e: e.heatmap({"timeframe": "2Y"}), "timeframe: unknown '2Y'; expected one of 1D, 1W, 1M, 3M"),
    (lambda e: e.heatmap({"market_index": "QQQ"}), "market_index: 'QQQ' is not the benchmark"),
]


@pytest.mark.parametrize("call, message", ENGINE_ERRORS)
def test_engine_errors_name_the_field(engine, call, message):
    async def go():
        result = call(engine)
        if asyncio.iscoroutine(result):
            await result

    with pytest.raises(RequestError) as err:
        run(go())
    assert message in str(err.value)
    assert len(engine.cache) == 0  # a refusal is never cached


def test_engine_swap_clears_the_cache(engine, demo_ds, champion_insignificant, as_of):
    run(engine.heatmap({"as_of": as_of}))
    run(engine.overview(None, as_of))
    assert len(engine.cache) == 2
    engine.swap(ServingState({"us_sectors": UniverseState(demo_ds, champion_insignificant, "ok")}, 2, 0.0))
    assert len(engine.cache) == 0
    _, hit, key = run(engine.heatmap({"as_of": as_of}))
    assert not hit and key[0] == 2


# ---- the MCP tools, in-process -------------------------------------------------------------------
def check_tool_schemas(tools, cfg: ServingConfig = CFG) -> None:
    """Names, annotations, argument descriptions and enums, output schemas."""
    by_name = {t.name: t for t in tools}
    assert set(by_name) == TOOLS
    for t in tools:
        a = t.annotations
        assert a.read_only_hint is True and a.idempotent_hint is True and a.destructive_hint is False, t.name
        assert a.open_world_hint is False and t.description
        props = t.input_schema["properties"]
        assert all(p.get("description") for p in props.values()), t.name
        assert t.output_schema and t.output_schema["type"] == "object" and t.output_schema["properties"], t.name
        assert t.output_schema.get("additionalProperties") is False, t.name

    def enum(tool: str, arg: str) -> list:
        p = by_name[tool].input_schema["properties"][arg]
        branch = next((b for b in p.get("anyOf", [p]) if b.get("type") != "null"), p)
        return branch["items"]["enum"] if branch.get("type") == "array" else branch["enum"]

    heat = by_name["get_sector_heatmap"].input_schema
    assert list(heat["properties"]) == ["timeframe", "metrics", "market_index", "universe", "as_of"]
    assert heat["properties"]["timeframe"]["default"] == "1W" and not heat.get("required")
    assert enum("get_sector_heatmap", "timeframe") == list(cfg.timeframes)
    assert enum("get_sector_heatmap", "metrics") == list(cfg.metrics)
    assert enum("get_sector_forecast", "horizon") == list(dict.fromkeys(cfg.horizon_for_timeframe.values()))
    assert enum("get_macro_indicators", "indicators") == [m.name for m in MACRO]
    assert list(by_name["get_macro_indicators"].input_schema["properties"]) == ["indicators", "as_of"]
    assert by_name["get_stock_analysis"].input_schema["required"] == ["ticker"]
    assert by_name["list_universes"].input_schema["properties"] == {}
    assert list(by_name["get_market_overview"].input_schema["properties"]) == ["universe", "as_of"]
    assert list(by_name["get_sector_rotation"].input_schema["properties"]) == ["universe", "as_of", "tail_weeks"]
    heat_out = by_name["get_sector_heatmap"].output_schema["properties"]
    assert {"sectors", "health", "market_context", "market_overview", "skill", "stale"} <= set(heat_out)


def in_process(engine, work):
    """Run `work(client)` against build_mcp(engine) through the SDK's in-process client."""
    from mcp import Client

    from serving.mcp_server import build_mcp

    async def go():
        async with Client(build_mcp(engine), read_timeout_seconds=CALL_TIMEOUT_S) as client:
            return await work(client)

    return run(go())


def test_tools_and_schemas(engine):
    async def work(client):
        return (await client.list_tools()).tools

    check_tool_schemas(in_process(engine, work))


def test_tool_enums_follow_the_config(settings, demo_ds):
    cfg = dataclasses.replace(settings.cfg, timeframes=("1W", "1M"), metrics=("performance", "predicted"))
    state = ServingState({"us_sectors": UniverseState(demo_ds, None, "none")}, 1, 0.0)
    eng = HeatmapEngine(dataclasses.replace(settings, cfg=cfg), state)

    async def work(client):
        return (await client.list_tools()).tools

    check_tool_schemas(in_process(eng, work), cfg)


GOOD_CALLS = [
    ("get_sector_heatmap", {"timeframe": "1M", "metrics": ["performance", "momentum", "predicted"]}),
    ("get_market_overview", {}),
    ("get_macro_indicators", {"indicators": ["vix", "curve_10y_5y"]}),
    ("get_sector_rotation", {"universe": "us_sectors"}),
    ("get_sector_forecast", {"horizon": "1M"}),
    ("get_stock_analysis", {"ticker": "XLK"}),
    ("list_universes", {}),
]


def check_good_result(name: str, args: dict, r) -> dict:
    assert not r.is_error, (name, r.content[0].text)
    data = r.structured_content
    assert len(r.content) == 2 and json.loads(r.content[1].text) == data
    summary = r.content[0].text
    assert summary and not summary.lstrip().startswith("{")
    if name == "get_sector_heatmap":
        assert data["timeframe"] == args.get("timeframe", "1W") and len(data["sectors"]) == 11
        assert data["market_overview"] in summary and data["skill"] in summary
    elif name == "get_macro_indicators":
        assert [m["name"] for m in data["indicators"]] == args["indicators"]
    elif name == "get_sector_forecast":
        assert data["horizons"] == ["1M"] and data["model_status"] == "ok"
    elif name == "get_stock_analysis":
        assert data["ticker"] == "XLK" and data["kind"] == "sector" and "XLK" in summary
    elif name == "list_universes":
        u = data["universes"][0]
        assert data["default"] == "us_sectors" and u["benchmark"] == "SPY" and len(u["sectors"]) == 11
        assert "XLK" in u["tickers"] and "vix" in u["macro_indicators"]
    return data


def test_every_tool_answers(engine, as_of):
    async def work(client):
        out = {}
        for name, args in GOOD_CALLS:
            out[name] = check_good_result(name, args, await client.call_tool(name, args))
        heat = await client.call_tool("get_sector_heatmap", {"timeframe": "1M", "as_of": as_of})
        return out, heat.structured_content

    out, heat = in_process(engine, work)
    body, hit, _ = run(engine.heatmap({"timeframe": "1M", "as_of": as_of}))
    assert hit and without(heat, "market_overview", "skill") == json.loads(body)  # the very same cached answer


def bad_arguments() -> list[tuple[str, dict, list[str]]]:
    """Every kind of bad argument: (tool, arguments, what the error text must contain)."""
    return [
        ("get_sector_heatmap", {"timeframe": "2Y"}, ["timeframe", "'1D', '1W', '1M' or '3M'", "2Y"]),
        ("get_sector_heatmap", {"timeframe": 5}, ["timeframe", "'1W'"]),
        ("get_sector_heatmap", {"metrics": ["performance", "bogus"]}, ["metrics[1]", "'volume_growth'", "bogus"]),
        ("get_sector_heatmap", {"metrics": "performance"}, ["metrics", "list"]),
        ("get_sector_heatmap", {"universe": "nope"}, ["universe: unknown 'nope'", "us_sectors"]),
        ("get_sector_heatmap", {"universe": "../../etc/passwd"}, ["universe: unknown", "us_sectors"]),
        ("get_sector_heatmap", {"market_index": "QQQ"}, ["market_index", "SPY"]),
        ("get_sector_heatmap", {"as_of": "2024-13-45"}, ["as_of: 2024-13-45 is not a calendar date", "to today"]),
        ("get_sector_heatmap", {"as_of": "yesterday"}, ["as_of: expected a date YYYY-MM-DD"]),
        ("get_sector_heatmap", {"as_of": "2024-06-28T10:00"}, ["as_of: expected a plain date"]),
        ("get_sector_heatmap", {"as_of": _future()}, ["as_of:", "is in the future"]),
        ("get_sector_heatmap", {"source": "csv:/etc"}, ["source: unknown argument", "timeframe, metrics"]),
        ("get_market_overview", {"as_of": "1950-01-03"}, ["as_of: 1950-01-03 is before the data starts"]),
        ("get_market_overview", {"universe": "http://example.com/u.yaml"}, ["universe: unknown", "us_sectors"]),
        ("get_macro_indicators", {"indicators": ["bogus"]}, ["indicators[0]", "'vix'", "'copper_gold'", "bogus"]),
        ("get_macro_indicators", {"as_of": "2024-02-30"}, ["as_of: 2024-02-30 is not a calendar date"]),
        ("get_sector_rotation", {"universe": ""}, ["universe: expected a non-empty string"]),
        ("get_sector_forecast", {"horizon": "5Y"}, ["horizon", "'1W', '1M' or '3M'", "5Y"]),
        ("get_stock_analysis", {"ticker": "NOPE"}, ["ticker: unknown 'NOPE'", "XLK"]),
        ("get_stock_analysis", {}, ["ticker: Field required"]),
        ("get_stock_analysis", {"ticker": "XLK", "as_of": _future()}, ["as_of:", "future"]),
        ("list_universes", {"path": "/etc"}, ["path: unknown argument", "no arguments"]),
    ]


def check_bad_result(tool: str, args: dict, needles: list[str], r) -> None:
    assert r.is_error, (tool, args)
    text = " ".join(c.text for c in r.content)
    assert text.startswith(f"Error executing tool {tool}: "), text
    for needle in needles:
        assert needle in text, (tool, args, text)
    assert "Traceback" not in text and 'File "' not in text and "\n" not in text, text
    assert r.structured_content is None


def test_bad_arguments_are_tool_errors(engine):
    cases = bad_arguments()

    async def work(client):
        results = [await client.call_tool(tool, args) for tool, args, _ in cases]
        still = await client.call_tool("get_market_overview", {})
        return results, still

    results, still = in_process(engine, work)
    for (tool, args, needles), r in zip(cases, results):
        check_bad_result(tool, args, needles, r)
    assert not still.is_error  # the server kept serving


def test_a_crash_is_a_tool_error_without_details(engine, monkeypatch):
    async def broken(*a, **kw):
        raise RuntimeError("secret detail /srv/data")

    monkeypatch.setattr(engine, "rotation", broken)

    async def work(client):
        return await client.call_tool("get_sector_rotation", {}), await client.call_tool("get_market_overview", {})

    crashed, fine = in_process(engine, work)
    assert crashed.is_error and crashed.content[0].text == "Error executing tool get_sector_rotation"
    assert not fine.is_error


def test_heatmap_reports_progress(engine):
    seen = []

    async def progress(value, total, message):
        seen.append((value, total, message))

    async def work(client):
        return await client.call_tool("get_sector_heatmap", {}, progress_callback=progress)

    assert not in_process(engine, work).is_error
    assert [(v, t) for v, t, _ in seen] == [(0, 1), (1, 1)]


def test_tools_answer_outside_a_request(engine):
    """MCPServer.call_tool called directly (no session, so nobody to report progress to) still answers."""
    from serving.mcp_server import build_mcp

    r = run(build_mcp(engine).call_tool("get_sector_heatmap", {"timeframe": "3M"}))
    assert not r.is_error and r.structured_content["timeframe"] == "3M"


def test_mcp_command_settings(monkeypatch):
    import argparse

    from serving.cli import build_parser
    from serving.mcp_cli import cmd_mcp, mcp_settings
    from serving.state import SOURCE_ENV

    args = build_parser().parse_args(["mcp"])
    assert args.func is cmd_mcp and args.source is None and args.config is None
    env = {SOURCE_ENV: DEMO_SOURCE, STORE_ENV: "/models/here"}
    s = mcp_settings(args, env)
    assert s.source.kind == "demo" and s.store_dir == "/models/here" and s.api_key is None
    s = mcp_settings(argparse.Namespace(source="csv:/data/us_daily", config=None), env)
    assert s.source.label.startswith("csv") and s.store_dir == "/models/here"


# ---- a real MCP client against `sector-heatmap mcp` over stdio ------------------------------------------
def mcp_command() -> list[str]:
    script = Path(sys.executable).with_name("sector-heatmap")
    return [str(script)] if script.exists() else [sys.executable, "-m", "serving.cli"]


def server_env(store) -> dict[str, str]:
    # stdio_client passes only a safe subset of the environment (PATH, HOME, ...) plus this; the headline
    # store beside the model store (never the user's cache); PYTHONPATH kept so a worktree runs its own code
    path = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    cache = {CACHE_ENV: str(news_cache_of(store))}
    return {STORE_ENV: str(store), "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1", **cache, **path}


def news_cache_of(store) -> Path:
    return Path(store).parent / "news-cache"


class StdioMcp:
    """`sector-heatmap mcp` as an MCP client sees it: one ClientSession over stdio_client, held open on an
    event loop in a background thread; `call()` and `submit()` run requests on it from the (sync) tests."""

    def __init__(self, store, workdir: Path, source: str = DEMO_SOURCE):
        self.argv = [*mcp_command(), "mcp", "--source", source]
        self.env = server_env(store)
        self.workdir = workdir
        self.log = workdir / "mcp-server.log"
        self.loop = asyncio.new_event_loop()
        self.session = None
        self.ready_seconds: float | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        from mcp import ClientSession, StdioServerParameters, stdio_client

        self._stop = asyncio.Event()
        params = StdioServerParameters(command=self.argv[0], args=self.argv[1:], env=self.env, cwd=self.workdir)
        t0 = time.perf_counter()
        try:
            with open(self.log, "w") as errlog:
                async with (
                    stdio_client(params, errlog=errlog) as (read, write),
                    ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT_S) as session,
                ):
                    await session.initialize()
                    self.ready_seconds = time.perf_counter() - t0
                    self.session = session
                    self._ready.set()
                    await self._stop.wait()
        except BaseException as exc:  # reported by __enter__ / the test that waits
            self._failure = exc
            self._ready.set()

    def __enter__(self) -> StdioMcp:
        self._thread.start()
        if not self._ready.wait(READY_TIMEOUT_S) or self._failure is not None:
            self.__exit__()
            raise RuntimeError(f"MCP server not ready ({self._failure!r}):\n{self.tail()}")
        return self

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def submit(self, coro, timeout: float = CALL_TIMEOUT_S):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, name: str, args: dict | None = None):
        return self.submit(self.session.call_tool(name, args or {}))

    def __exit__(self, *exc) -> None:
        if self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the MCP client did not shut down"
        self.loop.close()


@pytest.fixture(scope="module")
def stdio(demo_store, tmp_path_factory):
    with StdioMcp(demo_store, tmp_path_factory.mktemp("mcp")) as server:
        yield server


@pytest.fixture(scope="module")
def served(demo_store):
    """What the subprocess serves, loaded here: the demo market and the champion of the same store."""
    from serving.state import load_universe_state

    settings = ServerSettings.from_file(ConfigFile.read(None), DEMO_SOURCE, str(demo_store))
    u = load_universe_state("us_sectors", settings)
    assert u.champion is not None, u.model_status
    return settings.cfg, u


@pytest.mark.slow
def test_stdio_lists_tools_with_schemas(stdio):
    tools = stdio.submit(stdio.session.list_tools()).tools
    check_tool_schemas(tools)
    assert stdio.ready_seconds is not None and stdio.ready_seconds < READY_TIMEOUT_S


@pytest.mark.slow
def test_stdio_calls_every_tool(stdio):
    for name, args in GOOD_CALLS:
        data = check_good_result(name, args, stdio.call(name, args))
        if name != "list_universes":
            assert data.get("is_demo", True) is True
    assert stdio.call("list_universes").structured_content["universes"][0]["model_status"] == "ok"


@pytest.mark.slow
def test_stdio_heatmap_equals_build_heatmap(stdio, served, as_of, demo_store):
    cfg, u = served
    args = {"timeframe": "1M", "metrics": list(CFG.metrics), "as_of": as_of}
    got = stdio.call("get_sector_heatmap", args)
    assert not got.is_error, got.content[0].text
    data = got.structured_content
    champion = u.champion
    if any("live" in s for s in data["model"]["skill"].values()):  # the server's live scorecard, from its own log
        skill = {h: {**s, "live": data["model"]["skill"][h]["live"]} for h, s in champion.card["skill"].items()}
        champion = dataclasses.replace(champion, card={**champion.card, "skill": skill})
    desk = NewsDesk(FeatureConfig().news, news_cache_of(demo_store))  # the server's headline store
    expected = heatmap_with_news(u.dataset, HeatmapRequest.parse(args, cfg), champion, u.model_status, cfg, desk)
    expected = json.loads(json.dumps(expected))  # as JSON carries it
    assert data["model_status"] == "ok" and data["model"]["name"].endswith("-demo")
    health = {s["ticker"]: s["health_score"] for s in data["sectors"]}
    assert health == {s["ticker"]: s["health_score"] for s in expected["sectors"]}
    predicted = {s["ticker"]: s["predicted"] for s in data["sectors"]}
    assert predicted == {s["ticker"]: s["predicted"] for s in expected["sectors"]} and all(predicted.values())
    assert without(data, "timestamp", "market_overview", "skill", "news") == without(expected, "timestamp", "news")
    again = stdio.call("get_sector_heatmap", args).structured_content
    assert again == data  # the cached answer, timestamp included
    forecast = stdio.call("get_sector_forecast", {"as_of": as_of}).structured_content
    assert {s["ticker"]: s["predicted"] for s in forecast["sectors"]} == predicted


@pytest.mark.slow
def test_stdio_bad_arguments_are_tool_errors(stdio):
    for tool, args, needles in bad_arguments():
        check_bad_result(tool, args, needles, stdio.call(tool, args))
    assert not stdio.call("get_sector_heatmap", {}).is_error  # still serving


@pytest.mark.slow
def test_stdio_eight_concurrent_calls(stdio, as_of):
    calls = [("get_sector_heatmap", {"timeframe": tf, "as_of": as_of}) for tf in ("1D", "1W", "1M", "3M", "1M")] + [
        ("get_market_overview", {"as_of": as_of}),
        ("get_sector_forecast", {"as_of": as_of}),
        ("get_stock_analysis", {"ticker": "XLE", "as_of": as_of}),
    ]
    assert len(calls) == 8

    async def together():
        return await asyncio.gather(*(stdio.session.call_tool(name, args) for name, args in calls))

    results = stdio.submit(together())
    assert [r.is_error for r in results] == [False] * 8, [r.content[0].text for r in results if r.is_error]
    assert [r.structured_content["timeframe"] for r in results[:5]] == ["1D", "1W", "1M", "3M", "1M"]
    assert without(results[2].structured_content, "timestamp") == without(results[4].structured_content, "timestamp")


@pytest.mark.slow
def test_stdio_agent_workflow(stdio):
    """macro indicators -> heatmap -> top 3 sectors by health -> analysis of one of them."""
    macro = stdio.call("get_macro_indicators").structured_content
    assert {m["name"] for m in macro["indicators"]} >= {"vix", "yield_10y", "credit_hy_vs_ig"}
    heat = stdio.call("get_sector_heatmap", {"timeframe": "1M"}).structured_content
    assert heat["as_of"] == macro["as_of"]
    top3 = sorted(heat["sectors"], key=lambda s: -s["health_score"])[:3]
    assert [s["ticker"] for s in top3] == [s["ticker"] for s in heat["sectors"][:3]]  # already best first
    pick = top3[0]
    stock = stdio.call("get_stock_analysis", {"ticker": pick["ticker"].lower()}).structured_content
    assert stock["ticker"] == pick["ticker"] and stock["sector"]["ticker"] == pick["ticker"]
    assert stock["standing"]["among"] == "sectors" and stock["standing"]["of"] == len(heat["sectors"])
    rel = pick["descriptive"]["rel_return_pp"]["1M"]
    assert stock["return_vs_benchmark_pp"]["1M"] == pytest.approx(rel, abs=0.01)


def _read_message(proc, deadline: float) -> dict:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(max(0.0, deadline - time.monotonic())):
        raise TimeoutError("no answer from the MCP server")
    line = proc.stdout.readline()
    assert line, "the MCP server closed stdout"
    return json.loads(line)  # anything else on stdout than JSON-RPC fails here


@pytest.mark.slow
def test_stdio_stdout_carries_only_the_protocol(demo_store, tmp_path):
    """Raw pipes, no SDK client: every stdout line is a JSON-RPC message; the logs are on stderr."""
    env = {**os.environ, **server_env(demo_store)}
    err = tmp_path / "stderr.log"
    t0 = time.monotonic()
    with open(err, "wb") as errlog:
        proc = subprocess.Popen(
            [*mcp_command(), "mcp", "--source", DEMO_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            cwd=tmp_path,
            env=env,
            start_new_session=True,
        )
    try:

        def send(msg: dict) -> None:
            proc.stdin.write((json.dumps(msg) + "\n").encode())
            proc.stdin.flush()

        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
        first = _read_message(proc, t0 + READY_TIMEOUT_S)
        cold = time.monotonic() - t0
        assert first["id"] == 1 and first["result"]["serverInfo"]["name"] == "sector-heatmap"
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        call = {"name": "get_sector_heatmap", "arguments": {"timeframe": "1W"}}
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
        answer = _read_message(proc, time.monotonic() + CALL_TIMEOUT_S)
        assert answer["id"] == 2 and answer["result"]["structuredContent"]["timeframe"] == "1W"
        proc.stdin.close()
        assert proc.wait(30) == 0
        assert proc.stdout.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    log = err.read_text()
    assert "MCP server ready" in log and "universe us_sectors" in log, log
    assert cold < READY_TIMEOUT_S


@pytest.mark.slow
def test_mcp_command_refuses_a_bad_source_in_one_line(tmp_path):
    proc = subprocess.run(
        [*mcp_command(), "mcp", "--source", "csv:/nonexistent/sector-heatmap-data"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, STORE_ENV: str(tmp_path / "store")},
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == b""
    errors = [line for line in proc.stderr.decode().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr.decode()
