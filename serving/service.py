"""The BentoML service: `bentoml serve serving.service:SectorHeatmap` (or `sector-heatmap serve`).

Endpoints (JSON bodies are flat objects; unknown fields are a 400 naming the field):
  POST /heatmap   {timeframe, metrics, universe, market_index | benchmark, as_of} -> the heatmap
  POST /matrix    {universe, as_of} -> the descriptive rotation matrix
  POST /model, GET /model?universe=   the champion's model card (or why there is none)
  POST /reload    reload data and champion without a restart (clears the response cache)
  POST /ping      {"ok": true}: the framework's own cost, as a benchmark baseline
  GET  /ui/heatmap[.png]?timeframe=&as_of=&universe=&metrics=   the heatmap as HTML / PNG
  BentoML's own: /livez /readyz /metrics /docs.json and the Swagger UI at /

Everything heavy (market, features, champion) is loaded once in __init__ and swapped as a
whole on /reload; a request only slices one date. Answers are cached per (universe, as_of,
timeframe, metrics, model version, data version, load generation, UTC day) as finished bytes.
API methods never call each other (that deadlocks a served BentoML service): they and the /ui
pages share the plain helper methods below.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import bentoml
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from features.errors import RequestError, SectorHeatmapError
from serving.auth import ApiKeyMiddleware
from serving.cache import ResponseCache
from serving.config import ServingConfig
from serving.schemas import HeatmapResponse, MatrixResponse, ModelInfoResponse, PingResponse, ReloadResponse
from serving.state import ServerSettings, ServingState, UniverseState, load_state, log

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


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    universe: str | None = Field(None, examples=["us_sectors"])


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _json(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _utc_day() -> str:
    """Part of every cache key: freshness (sessions behind) is judged against today."""
    return time.strftime("%Y-%m-%d", time.gmtime())


def _bad(exc: Exception) -> InvalidArgument:
    return InvalidArgument(str(exc))


@bentoml.service(workers=1, traffic={"timeout": REQUEST_TIMEOUT_S}, logging={"access": {"enabled": False}})
class SectorHeatmap:
    def __init__(self) -> None:
        log.setLevel(logging.INFO)  # BentoML leaves non-BentoML loggers at WARNING; what was loaded matters
        self.settings = ServerSettings.from_env()
        self.cfg = self.settings.cfg
        log.info(
            "source %s, model store %s, universes %s, API key %s",
            self.settings.source.label,
            self.settings.store_dir,
            ", ".join(self.cfg.universes),
            "required" if self.settings.api_key else "not required",
        )
        self.state: ServingState = load_state(self.settings)
        self.cache = ResponseCache(self.cfg.cache_entries)
        self._reload_lock = asyncio.Lock()

    def __is_ready__(self) -> bool:
        return self.state is not None

    # ---- shared helpers (plain methods: the APIs and the /ui pages both call these) ----------
    def _universe(self, state: ServingState, name: str | None) -> tuple[str, UniverseState]:
        try:
            return state.resolve(self.cfg.universes[0] if name is None else name)
        except RequestError as exc:
            raise _bad(exc) from None

    def _heatmap_request(self, state: ServingState, raw: dict):
        from serving.request import HeatmapRequest

        try:
            req = HeatmapRequest.parse(raw, self.cfg)
        except RequestError as exc:
            raise _bad(exc) from None
        name, u = self._universe(state, req.universe)
        as_of = None if req.as_of is None else req.as_of.date().isoformat()
        key = (
            state.generation,
            name,
            as_of,
            req.timeframe,
            req.metrics,
            req.market_index,
            u.model_version,
            u.data_version,
            _utc_day(),
        )
        return req, u, key

    def _build_heatmap(self, u: UniverseState, req) -> bytes:
        from serving.heatmap import build_heatmap

        try:
            resp = build_heatmap(u.dataset, req, u.champion, u.model_status, self.cfg)
        except RequestError as exc:  # as_of before the data, a benchmark that is not the universe's
            raise _bad(exc) from None
        return _json(resp)

    async def heatmap_body(self, raw: dict) -> tuple[bytes, bool, tuple]:
        """(JSON bytes, cache hit, cache key) for a heatmap request mapping."""
        state = self.state
        req, u, key = self._heatmap_request(state, raw)
        body, hit = await self.cache.get_or_compute(("heatmap", *key), lambda: self._build_heatmap(u, req))
        return body, hit, key

    async def heatmap_page(self, raw: dict, kind: str) -> tuple[bytes, bool]:
        """The heatmap drawn as 'html' or 'png', rendered from the (cached) JSON so they never disagree."""
        from serving.render import heatmap_html, heatmap_png

        body, _, key = await self.heatmap_body(raw)
        if kind == "html":
            render = lambda: heatmap_html(json.loads(body)).encode()  # noqa: E731
        else:
            render = lambda: heatmap_png(json.loads(body))  # noqa: E731
        return await self.cache.get_or_compute((kind, *key), render)

    async def matrix_body(self, raw: dict) -> tuple[bytes, bool]:
        from features.matrix import rotation_matrix
        from serving.request import HeatmapRequest

        state = self.state
        try:  # the same field checks as a heatmap request (a date, not in the future)
            req = HeatmapRequest.parse(raw, self.cfg)
        except RequestError as exc:
            raise _bad(exc) from None
        name, u = self._universe(state, req.universe)

        def compute() -> bytes:
            ds = u.dataset
            try:
                m = rotation_matrix(ds.panels, ds.universe, req.as_of, ds.config)
            except RequestError as exc:  # as_of before the data starts
                raise _bad(exc) from None
            return _json(
                {
                    "universe": ds.universe.name,
                    "data_source": ds.source.label,
                    "is_demo": ds.source.synthetic,
                    **m.to_dict(),
                }
            )

        as_of = None if req.as_of is None else req.as_of.date().isoformat()
        return await self.cache.get_or_compute(("matrix", state.generation, name, as_of, u.data_version), compute)

    def model_info(self, universe=None) -> dict:
        from serving.heatmap import model_card

        _, u = self._universe(self.state, universe)
        return {
            "universe": u.dataset.universe.name,
            "model_status": u.model_status,
            "model": model_card(u.champion),
            "data_source": u.dataset.source.label,
        }

    def status(self) -> dict:
        st = self.state
        return {
            "generation": st.generation,
            "load_seconds": round(st.seconds, 2),
            "universes": {k: u.summary() for k, u in st.universes.items()},
        }

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
        body, hit, _ = await self.heatmap_body(raw)
        return Response(body, media_type=JSON_TYPE, headers={"X-Cache": "hit" if hit else "miss"})

    @bentoml.api(input_spec=MatrixParams, output_spec=MatrixResponse)
    async def matrix(self, universe=None, as_of=None) -> Response:
        """The descriptive rotation matrix: sector minus benchmark total return per window, bull/bear/neutral."""
        body, hit = await self.matrix_body({"universe": universe, "as_of": as_of})
        return Response(body, media_type=JSON_TYPE, headers={"X-Cache": "hit" if hit else "miss"})

    @bentoml.api(input_spec=ModelParams, output_spec=ModelInfoResponse)
    async def model(self, universe=None) -> Response:
        """The champion's model card (version, training window, out-of-sample skill), or why there is none."""
        return Response(_json(self.model_info(universe)), media_type=JSON_TYPE)

    @bentoml.api(input_spec=NoParams, output_spec=ReloadResponse)
    async def reload(self) -> Response:
        """Reload market data and the champion without a restart; the old state serves until the new one is ready."""
        async with self._reload_lock:
            t0 = time.perf_counter()
            gen = self.state.generation + 1
            try:
                new = await asyncio.get_running_loop().run_in_executor(None, load_state, self.settings, gen)
            except SectorHeatmapError as exc:  # keep serving the old state, say why
                log.warning("reload failed: %s", exc)
                return JSONResponse({"reloaded": False, "error": str(exc), "serving": self.status()}, status_code=503)
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
            self.state = new
            self.cache.clear()
            body = {"reloaded": True, "seconds": round(time.perf_counter() - t0, 2), **self.status()}
            return Response(_json(body), media_type=JSON_TYPE)

    @bentoml.api(input_spec=NoParams, output_spec=PingResponse)
    async def ping(self) -> Response:
        """Trivial endpoint: the framework's own overhead, the baseline for the benchmark.

        Answered like a cached heatmap (finished bytes, no BentoML output serialisation), so the
        difference between the two is exactly what the service adds per request."""
        return Response(PING_BODY, media_type=JSON_TYPE)


# ---- GET routes: the model card and the heatmap as a page / picture ----------------------------
def _service() -> SectorHeatmap:
    return bentoml.get_current_service()


def _error(exc: InvalidArgument) -> PlainTextResponse:
    return PlainTextResponse(f"bad request: {exc}", status_code=400)


async def get_model(request: Request) -> Response:
    try:
        return JSONResponse(_service().model_info(request.query_params.get("universe")))
    except InvalidArgument as exc:
        return _error(exc)


def _page(kind: str, media_type: str):
    """A GET handler for the heatmap drawn as `kind` (html or png), cached like the JSON."""

    async def handler(request: Request) -> Response:
        try:
            body, hit = await _service().heatmap_page(dict(request.query_params), kind)
        except InvalidArgument as exc:
            return _error(exc)
        return Response(body, media_type=media_type, headers={"X-Cache": "hit" if hit else "miss"})

    return handler


heatmap_html_page = _page("html", "text/html; charset=utf-8")
heatmap_png_page = _page("png", "image/png")


pages = Starlette(
    routes=[
        Route("/model", get_model, methods=["GET"]),
        Route("/ui/heatmap", heatmap_html_page, methods=["GET"]),
        Route("/ui/heatmap.png", heatmap_png_page, methods=["GET"]),
    ]
)
# BentoML mounts passively: only these paths go to `pages`; everything else stays BentoML's
SectorHeatmap = bentoml.asgi_app(pages, path="/", name="pages")(SectorHeatmap)  # type: ignore[misc]
SectorHeatmap.add_asgi_middleware(ApiKeyMiddleware, expected_key=lambda: _service().settings.api_key)  # type: ignore[attr-defined]
