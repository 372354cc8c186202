"""The BentoML service: `bentoml serve serving.service:SectorHeatmap` (or `sector-heatmap serve`).

Endpoints (JSON bodies are flat objects; unknown fields are a 400 naming the field):
  POST /heatmap   {timeframe, metrics, universe, market_index | benchmark, as_of} -> the heatmap
  POST /matrix    {universe, as_of} -> the descriptive rotation matrix
  POST /model, GET /model?universe=   the champion's model card (or why there is none)
  POST /reload    reload data and champion without a restart (clears the response cache)
  POST /news      {sector, days, universe, as_of} -> one sector's scored headlines (serving/news.py)
  POST /ping      {"ok": true}: the framework's own cost, as a benchmark baseline
  GET  /ui/heatmap[.png]?timeframe=&as_of=&universe=&metrics=   the heatmap as HTML / PNG (the HTML page is the
       dashboard: controls, heatmap, rotation graph, matrix; /ui redirects there)
  POST /sector    {sector, universe, as_of, timeframe} -> one sector's drill-down; page GET /ui/sector
  POST /rotation  {universe, as_of, tail_weeks} -> the rotation graph; GET /ui/rotation[.png]
  BentoML's own: /livez /readyz /metrics and the Swagger UI at /; /docs.json is BentoML's, completed
  (serving/openapi.py). Every error answer has one body, {"error": {"code", "message", "field"?}}, and
  every request passes serving/guard.py first (body cap, JSON only, body checked, errors shaped and logged).

Everything heavy (market, features, champion) is loaded once in __init__ and swapped as a
whole on /reload; a request only slices one date. Answers are cached per (universe, as_of,
timeframe, metrics, model version, data version, load generation, UTC day) as finished bytes.
API methods never call each other (that deadlocks a served BentoML service): they and the /ui
pages share the plain helper methods below.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import time

import bentoml
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from features.errors import RequestError, SectorHeatmapError
from serving import request_timer
from serving.auth import ApiKeyMiddleware
from serving.cache import ResponseCache
from serving.config import ServingConfig
from serving.engine import HeatmapEngine, json_bytes
from serving.guard import RequestGuard
from serving.http_errors import field_name, request_error_response
from serving.live import initial_state, live_market
from serving.mcp_fastpath import McpResultCache
from serving.mcp_schemas import SectorRotationResult
from serving.mcp_server import build_mcp, read_only_tools
from serving.refresher import Refresher, RefreshStep
from serving.schemas import (
    HeatmapResponse,
    MatrixResponse,
    ModelInfoResponse,
    NewsResponse,
    PingResponse,
    ReloadResponse,
    SectorResponse,
)
from serving.state import ServerSettings, ServingState, StateLoader, abandon_start, log

_DEFAULTS = ServingConfig()
REQUEST_TIMEOUT_S = 30
JSON_TYPE = "application/json"
PING_BODY = b'{"ok":true}'


class HeatmapParams(BaseModel):
    """Flat request body of POST /heatmap; every field is optional."""

    model_config = ConfigDict(extra="forbid")
    timeframe: str | None = Field(
        None,
        description=f"one of {', '.join(_DEFAULTS.timeframes)} (default {_DEFAULTS.default_timeframe})",
        examples=["1M"],
    )
    metrics: list[str] | None = Field(
        None,
        description=f"any of {', '.join(_DEFAULTS.metrics)} (default: all)",
        examples=[["performance", "predicted"]],
    )
    universe: str | None = Field(
        None, description="one of the universes this server loaded (default: the first)", examples=["us_sectors"]
    )
    market_index: str | None = Field(
        None, description="the universe's benchmark (checked, not switchable)", examples=["SPY"]
    )
    benchmark: str | None = Field(None, description="alias of market_index")
    as_of: str | None = Field(None, description="YYYY-MM-DD; default: the latest session", examples=["2024-06-28"])


class MatrixParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    universe: str | None = Field(None, examples=["us_sectors"])
    as_of: str | None = Field(None, description="YYYY-MM-DD; default: the latest session")


class SectorParams(BaseModel):
    """Body of POST /sector: one sector's drill-down."""

    model_config = ConfigDict(extra="forbid")
    sector: str = Field(description="sector name or key (ETF ticker), any case", examples=["XLK"])
    universe: str | None = Field(None, examples=["us_sectors"])
    as_of: str | None = Field(None, description="YYYY-MM-DD; default: the latest session")
    timeframe: str | None = Field(None, description=f"one of {', '.join(_DEFAULTS.timeframes)}", examples=["1M"])


class RotationParams(BaseModel):
    """Body of POST /rotation: the rotation graph (the get_sector_rotation tool's answer)."""

    model_config = ConfigDict(extra="forbid")
    universe: str | None = Field(None, examples=["us_sectors"])
    as_of: str | None = Field(None, description="YYYY-MM-DD; default: the latest session")
    tail_weeks: int | None = Field(None, description="weekly points per tail, 1-52 (default 8)", examples=[8])


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    universe: str | None = Field(None, examples=["us_sectors"])


class NewsParams(BaseModel):
    """Flat request body of POST /news."""

    model_config = ConfigDict(extra="forbid")
    sector: str = Field(description="sector key (ETF ticker, e.g. XLK) or name", examples=["XLK"])
    days: float | None = Field(None, description="headlines of the last this many days, (0, 90]; default 7")
    universe: str | None = Field(None, examples=["us_sectors"])
    as_of: str | None = Field(None, description="YYYY-MM-DD: only headlines published by the end of that day")


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@bentoml.service(workers=1, traffic={"timeout": REQUEST_TIMEOUT_S}, logging={"access": {"enabled": False}})
class SectorHeatmap:
    def __init__(self) -> None:
        log.setLevel(logging.INFO)  # BentoML leaves non-BentoML loggers at WARNING; what was loaded matters
        request_timer.install()  # BentoML's per-request timeout timers cancelled when done (serving/request_timer.py)
        # every load (this one and each /reload) runs on one thread and hands the old state's memory back: see
        # StateLoader (a load per pool thread kept one glibc arena per thread, ~2.5x RSS after some reloads)
        self._loader = StateLoader()
        try:
            self.settings = ServerSettings.from_env()
            self.cfg = self.settings.cfg
            log.info(
                "source %s, model store %s, universes %s, API key %s",
                self.settings.source.label,
                self.settings.store_dir,
                ", ".join(self.cfg.universes),
                "required" if self.settings.api_key else "not required",
            )
            # the clock and yfinance the scheduled refresh uses (a test seam may fake both: serving/live.py)
            self.market = live_market(self.settings)
            # a universe that fails is reported and not served; only when none loads does this raise
            state = self._loader.run(initial_state, self.settings, self.market)
            self.engine = HeatmapEngine(self.settings, state=state)
            self.engine.now = self.market.now
            freeze_heap(collect=False)
        except Exception as exc:
            self._loader.shutdown()
            abandon_start(exc)  # under `sector-heatmap serve`: stop the server, never a worker restart loop
            raise
        self._reload_lock = asyncio.Lock()
        # started by the startup hook below, never here nor at import (serving/refresher.py); extra steps
        # (the news headlines) plug in via Refresher(extra_steps={name: callable(state)})
        steps: dict[str, RefreshStep] = {"news": self._refresh_news}
        self.refresher = Refresher(self.settings, self.engine, self._loader, self.market, self._reload_lock, steps)
        self.engine.refresh_mark = self.refresher.mark_dict  # the MCP heatmap tool carries the same refresh block

    def _refresh_news(self, state: ServingState) -> None:
        """The refresh's news step: the headlines of every universe served, fetched (when due by
        features.news.refresh_minutes), scored and stored, on the loader thread before the swap."""
        universes = [u.dataset.universe for u in state.universes.values()]
        self.engine.news.refresh(universes, now=self.market.now(), fetcher=self.market.news)

    def __is_ready__(self) -> bool:
        """Ready once at least one universe is served (__init__ fails otherwise); the ones that could not be
        loaded are in status() and requests for them get a 503 naming why."""
        return bool(self.state.universes)

    @bentoml.on_startup
    async def _start_refresh(self) -> None:
        """The scheduled refresh runs on the server's event loop for the lifespan of this instance."""
        self.refresher.start()

    @bentoml.on_shutdown
    async def _stop_refresh(self) -> None:
        await self.refresher.stop()

    # ---- the engine: state, cache and answers shared with the MCP tools (serving/engine.py) ------
    # A RequestError raised below reaches the API method or page, which answers it as a 400 response: never
    # raised out of an API method, since BentoML logs whatever an API raises at ERROR with its traceback.
    @property
    def state(self) -> ServingState:
        return self.engine.state

    @property
    def cache(self) -> ResponseCache:
        return self.engine.cache

    async def heatmap_body(self, raw: dict) -> tuple[bytes, bool, tuple]:
        """(JSON bytes, cache hit, cache key) for a heatmap request mapping."""
        return await self.engine.heatmap(raw)

    async def heatmap_page(self, raw: dict, kind: str) -> tuple[bytes, bool]:
        """The heatmap drawn as 'html' or 'png', rendered from the (cached) JSON so they never disagree."""
        from serving.render import heatmap_html, heatmap_png

        body, _, key = await self.heatmap_body(raw)
        page = self.cache.get((kind, *key))
        if page is not None:  # a cached page: its rotation graph and matrix are not looked up (and parsed) again
            return page, True
        if kind == "html":  # the dashboard: the heatmap, the rotation graph and the matrix of the same day
            rotation, matrix = await dashboard_parts(raw)
            served = [u.dataset.universe.name for u in self.state.universes.values()]  # (requests accept these)
            render = lambda: heatmap_html(json.loads(body), rotation, matrix, served, links=True).encode()  # noqa: E731
        else:
            render = lambda: heatmap_png(json.loads(body))  # noqa: E731
        return await self.cache.get_or_compute((kind, *key), render)

    async def matrix_body(self, raw: dict) -> tuple[bytes, bool]:
        return await self.engine.matrix(raw)

    def model_info(self, universe=None) -> dict:
        return self.engine.model_info(universe)

    def status(self) -> dict:
        return self.engine.status()

    # ---- the API ---------------------------------------------------------------------------
    @bentoml.api(input_spec=HeatmapParams, output_spec=HeatmapResponse)
    async def heatmap(
        self, timeframe=None, metrics=None, universe=None, market_index=None, benchmark=None, as_of=None
    ) -> Response:
        """Per sector: descriptive and predicted columns, health score with its components, colour;
        leadership profile, model card and data freshness."""
        raw = {
            "timeframe": timeframe,
            "metrics": metrics,
            "universe": universe,
            "market_index": market_index,
            "benchmark": benchmark,
            "as_of": as_of,
        }
        try:
            body, hit, _ = await self.heatmap_body(raw)
        except RequestError as exc:
            return request_error_response(exc)
        body = self.refresher.mark(body, universe)  # the live refresh block, never cached
        return Response(body, media_type=JSON_TYPE, headers={"X-Cache": "hit" if hit else "miss"})

    @bentoml.api(input_spec=MatrixParams, output_spec=MatrixResponse)
    async def matrix(self, universe=None, as_of=None) -> Response:
        """The descriptive rotation matrix: sector minus benchmark total return per window, bull/bear/neutral."""
        try:
            body, hit = await self.matrix_body({"universe": universe, "as_of": as_of})
        except RequestError as exc:
            return request_error_response(exc)
        body = self.refresher.mark(body, universe)
        return Response(body, media_type=JSON_TYPE, headers={"X-Cache": "hit" if hit else "miss"})

    @bentoml.api(input_spec=NewsParams, output_spec=NewsResponse)
    async def news(self, sector=None, days=None, universe=None, as_of=None) -> Response:
        """One sector's scored headlines (newest first) with its news sentiment and news volume."""
        try:
            body = json_bytes(await self.engine.sector_news(sector, days, universe, as_of))
        except RequestError as exc:
            return request_error_response(exc)
        return Response(body, media_type=JSON_TYPE)

    @bentoml.api(input_spec=SectorParams, output_spec=SectorResponse)
    async def sector(self, sector=None, universe=None, as_of=None, timeframe=None) -> Response:
        """One sector: its move, breadth, concentration, members vs the sector and the benchmark, top and bottom
        contributors (constituent universes); for a universe of ETFs its own figures and a note."""
        try:
            body = await self.engine.sector(
                {"sector": sector, "universe": universe, "as_of": as_of, "timeframe": timeframe}
            )
        except RequestError as exc:
            return request_error_response(exc)
        return Response(json_bytes(body), media_type=JSON_TYPE)

    @bentoml.api(input_spec=RotationParams, output_spec=SectorRotationResult)
    async def rotation(self, universe=None, as_of=None, tail_weeks=None) -> Response:
        """The rotation graph: each sector's weekly RS-ratio / RS-momentum tail and quadrant, with the rotation
        matrix (the same answer as the MCP tool get_sector_rotation)."""
        try:
            body = await self.engine.rotation(universe, as_of, tail_weeks)
        except RequestError as exc:
            return request_error_response(exc)
        return Response(json_bytes(body), media_type=JSON_TYPE)

    @bentoml.api(input_spec=ModelParams, output_spec=ModelInfoResponse)
    async def model(self, universe=None) -> Response:
        """The champion's model card (version, training window, out-of-sample skill), or why there is none."""
        try:
            return Response(json_bytes(self.model_info(universe)), media_type=JSON_TYPE)
        except RequestError as exc:
            return request_error_response(exc)

    @bentoml.api(input_spec=NoParams, output_spec=ReloadResponse)
    async def reload(self) -> Response:
        """Reload market data and the champion without a restart; the old state serves until the new one is ready."""
        async with self._reload_lock:
            t0 = time.perf_counter()
            gen = self.state.generation + 1
            try:
                try:
                    new = await self._loader.load_async(self.settings, gen)  # the one loader thread
                except SectorHeatmapError as exc:  # keep serving the old state, say why
                    log.warning("reload failed: %s", exc)
                    return JSONResponse(
                        {"reloaded": False, "error": str(exc), "serving": self.status()}, status_code=503
                    )
                except Exception:  # a bug: its traceback goes to the log, the old state keeps serving
                    log.exception("reload failed")
                    return JSONResponse(
                        {
                            "reloaded": False,
                            "error": "internal error while loading (see the server log)",
                            "serving": self.status(),
                        },
                        status_code=503,
                    )
                if lost := new.lost(self.state):  # never serve less than before: keep the old state, say why
                    error = "; ".join(new.failed[name].reason for name in lost)
                    del new
                    log.warning("reload failed: %s", error)
                    return JSONResponse({"reloaded": False, "error": error, "serving": self.status()}, status_code=503)
                self.engine.swap(new)  # the only reference to the old state (requests holding it finish with it)
                del new  # (swap also drops every cached answer of the old state)
                body = {"reloaded": True, "seconds": round(time.perf_counter() - t0, 2), **self.status()}
                return Response(json_bytes(body), media_type=JSON_TYPE)
            finally:  # the replaced (or rejected) state's memory back to the OS, before the next reload can start
                await self._loader.release()
                freeze_heap(collect=True)  # the new state out of the collector's way, the old one's cycles freed

    @bentoml.api(input_spec=NoParams, output_spec=PingResponse)
    async def ping(self) -> Response:
        """Trivial endpoint: the framework's own overhead, the baseline for the benchmark.

        Answered like a cached heatmap (finished bytes, no BentoML output serialisation), so the
        difference between the two is exactly what the service adds per request."""
        return Response(PING_BODY, media_type=JSON_TYPE)


def freeze_heap(collect: bool) -> None:
    """Move every object alive now (the loaded state, the libraries) out of the cyclic collector's reach.

    Why (bench/serve_bench.py --mcp-only, bench/gcprobe): the worker holds ~530k long-lived objects, and a
    full collection of them paused it 0.5-1 s on the shared 2-core machine, the whole p99 of a cached answer.
    What full collections still walk is mostly per-request objects BentoML keeps for its 30 s traffic timeout
    (TimeoutMiddleware never cancels its timer, whose context holds the request's tracing span).
    Frozen objects are still freed by reference counting; on a reload (`collect`) the frozen set is first
    unfrozen and collected, so the old state's reference cycles are freed, then the new state is frozen."""
    if collect:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


# ---- GET routes: the model card and the heatmap as a page / picture ----------------------------
def _service() -> SectorHeatmap:
    return bentoml.get_current_service()


async def get_model(request: Request) -> Response:
    try:
        unknown = sorted(set(request.query_params) - {"universe"})
        if unknown:  # as POST /model refuses an unknown field
            raise RequestError(f"{field_name(unknown[0])}: unknown parameter; expected universe")
        return Response(json_bytes(_service().model_info(request.query_params.get("universe"))), media_type=JSON_TYPE)
    except RequestError as exc:
        return request_error_response(exc)


def _page(kind: str, media_type: str):
    """A GET handler for the heatmap drawn as `kind` (html or png), cached like the JSON."""

    async def handler(request: Request) -> Response:
        try:
            body, hit = await _service().heatmap_page(dict(request.query_params), kind)
        except RequestError as exc:
            return request_error_response(exc)
        return Response(body, media_type=media_type, headers={"X-Cache": "hit" if hit else "miss"})

    return handler


async def dashboard_parts(raw: dict) -> tuple[dict, dict]:
    """The rotation graph and the matrix of the heatmap page's universe and date (cached like the JSON)."""
    engine = _service().engine
    scope = {"universe": raw.get("universe"), "as_of": raw.get("as_of")}
    rotation = await engine.rotation(**scope)
    matrix, _ = await engine.matrix(scope)
    return rotation, json.loads(matrix)


def _extra_page(kind: str, allowed: tuple[str, ...]):
    """GET /ui/sector, /ui/rotation and /ui/rotation.png: the engine's answer drawn (serving/drilldown.py)."""

    async def handler(request: Request) -> Response:
        from serving.drilldown import rotation_html, rotation_png, sector_html

        try:
            q = dict(request.query_params)
            unknown = sorted(set(q) - set(allowed))
            if unknown:
                raise RequestError(f"{field_name(unknown[0])}: unknown parameter; expected {', '.join(allowed)}")
            if kind == "sector":
                d = await _service().engine.sector(q)
                news = await _service().engine.sector_news(
                    d["sector"]["ticker"], None, q.get("universe"), q.get("as_of")
                )
                return Response(sector_html(d, news), media_type="text/html; charset=utf-8")
            weeks = q.pop("tail_weeks", None)
            if weeks is not None and not (weeks.isdigit() and len(weeks) < 4):
                raise RequestError(f"tail_weeks: expected a whole number of weeks, got {weeks[:40]!r}")
            rot = await _service().engine.rotation(
                q.get("universe"), q.get("as_of"), None if weeks is None else int(weeks)
            )
        except RequestError as exc:
            return request_error_response(exc)
        if kind == "rotation.png":
            return Response(await asyncio.to_thread(rotation_png, rot), media_type="image/png")
        return Response(rotation_html(rot), media_type="text/html; charset=utf-8")

    return handler


async def dashboard_redirect(request: Request) -> Response:
    """/ui: the dashboard (the heatmap page), with the same query."""
    from starlette.responses import RedirectResponse

    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/ui/heatmap{query}", status_code=307)


async def get_status(request: Request) -> Response:
    """GET /status: the refresh schedule (last refresh, outcome, next due, market open) and data age per universe."""
    return Response(json_bytes(_service().refresher.status_document()), media_type=JSON_TYPE)


heatmap_html_page = _page("html", "text/html; charset=utf-8")
heatmap_png_page = _page("png", "image/png")


@functools.cache
def _openapi_json() -> bytes:
    from serving.openapi import openapi_document

    return json_bytes(openapi_document(SectorHeatmap.openapi_spec.asdict()))  # type: ignore[attr-defined]


async def openapi_json(request: Request) -> Response:
    """/docs.json: BentoML's document with the one error body, GET /model and /reload's 503 (serving/openapi.py)."""
    return Response(_openapi_json(), media_type=JSON_TYPE)


pages = Starlette(
    routes=[
        Route("/docs.json", openapi_json, methods=["GET"]),  # matched before BentoML's own /docs.json route
        Route("/model", get_model, methods=["GET"]),
        Route("/status", get_status, methods=["GET"]),
        Route("/ui/heatmap", heatmap_html_page, methods=["GET"]),
        Route("/ui/heatmap.png", heatmap_png_page, methods=["GET"]),
        Route("/ui", dashboard_redirect, methods=["GET"]),
        Route("/ui/sector", _extra_page("sector", ("sector", "universe", "as_of", "timeframe")), methods=["GET"]),
        Route("/ui/rotation", _extra_page("rotation", ("universe", "as_of", "tail_weeks")), methods=["GET"]),
        Route("/ui/rotation.png", _extra_page("rotation.png", ("universe", "as_of", "tail_weeks")), methods=["GET"]),
    ]
)
# BentoML mounts passively: only these paths go to `pages`; everything else stays BentoML's
SectorHeatmap = bentoml.asgi_app(pages, path="/", name="pages")(SectorHeatmap)  # type: ignore[misc]


# The MCP tools over streamable HTTP at /mcp, answering from this service's engine: the same state, champion
# and response cache as the JSON API, swapped by /reload. The engine is looked up per call (it exists only
# once __init__ has run); BentoML enters the app's lifespan, which runs the SDK's session manager.
class _McpEndpoint:
    """/mcp: the MCP streamable-HTTP app of the current lifespan. The SDK's session manager runs once per app
    instance, and the service's lifespan can be entered more than once in a process (tests, a restarted
    app), so each lifespan builds its own."""

    def __init__(self) -> None:
        self.app: McpResultCache | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette):
        server = build_mcp(lambda: _service().engine)
        inner = server.streamable_http_app(streamable_http_path="/mcp")
        # repeat calls of the read-only tools are answered from a result cache in front of the SDK's transport,
        # everything else by the SDK (why: serving/mcp_fastpath.py)
        self.app = McpResultCache(
            inner, server.session_manager, await read_only_tools(server), lambda: _service().engine, _max_entries()
        )
        async with inner.router.lifespan_context(inner):
            freeze_heap(collect=False)  # what BentoML and the SDK built since __init__ froze the state
            yield

    async def __call__(self, scope, receive, send) -> None:
        if self.app is None:  # only while the service starts
            await Response(b"starting", status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


_mcp = _McpEndpoint()
mcp_app = Starlette(routes=[Route("/mcp", _mcp, methods=["GET", "POST", "DELETE"])], lifespan=_mcp.lifespan)
SectorHeatmap = bentoml.asgi_app(mcp_app, path="/", name="mcp")(SectorHeatmap)  # type: ignore[misc]


def _max_entries() -> int:
    try:
        return _service().cfg.cache_entries
    except Exception:  # no service instance yet (starting)
        return _DEFAULTS.cache_entries


def _max_body_bytes() -> int:
    try:
        return _service().cfg.max_body_bytes
    except Exception:  # no service instance yet (starting)
        return _DEFAULTS.max_body_bytes


# middlewares added first run first: the guard (body size, JSON only, body checked, one error shape), then the key
SectorHeatmap.add_asgi_middleware(  # type: ignore[attr-defined]
    RequestGuard,
    max_body_bytes=_max_body_bytes,
    json_inputs={m.route: m.input_spec for m in SectorHeatmap.apis.values()},  # type: ignore[attr-defined]
)
SectorHeatmap.add_asgi_middleware(ApiKeyMiddleware, expected_key=lambda: _service().settings.api_key)  # type: ignore[attr-defined]
