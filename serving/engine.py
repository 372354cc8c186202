"""The serving core without a framework: what the BentoML service and the MCP server both call.

`HeatmapEngine` holds the settings, the loaded state (data and champion per universe) and one
response cache. Every answer goes request -> (validated) cache key -> finished JSON bytes, computed
once per key in a worker thread (serving/cache.py) and answered from the cache until the state is
swapped (a reload) or the UTC day changes where freshness is part of the answer.

The heatmap path is exactly the one of `SectorHeatmap.heatmap_body` in serving/service.py: the
same request parsing (`HeatmapRequest.parse`), the same cache key and the same `build_heatmap` call,
so the MCP tools and POST /heatmap answer with identical numbers. The other answers (market
overview, macro indicators, rotation, forecast, one ticker) wrap the pure functions of
features/overview.py, features/rotation.py, features/stock.py; their `universe` and `as_of` are
checked by `HeatmapRequest.parse` too (its `parse_date` plus the not-in-the-future check), so a bad
value gets the same message on every tool and endpoint.

Every problem with a request raises RequestError("<field>: <what is wrong>"). Nothing here takes a
path or a host from a request: universes are chosen by name among those loaded at start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Sequence

from features.errors import RequestError
from serving.cache import ResponseCache
from serving.http_errors import EXCERPT_CHARS, excerpt, field_name
from serving.request import HeatmapRequest, parse_names
from serving.state import ServerSettings, ServingState, UniverseState, load_state

TOP_SECTORS = 3  # sectors named in the readable summaries


def json_bytes(obj) -> bytes:
    """Compact UTF-8 JSON: the bytes every cached answer is stored and served as."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def open_news_desk(settings: ServerSettings):
    """The read side of the headline store under the cache directory (SECTOR_HEATMAP_CACHE)."""
    from features.sources.yahoo import default_cache_dir
    from serving.news import NewsDesk

    return NewsDesk(settings.feature_cfg.news, default_cache_dir())


def utc_day() -> str:
    """Part of every cache key whose answer judges freshness (sessions behind) against today."""
    return time.strftime("%Y-%m-%d", time.gmtime())


class HeatmapEngine:
    """Settings, the loaded state and the response cache; one instance per process."""

    def __init__(self, settings: ServerSettings, state: ServingState | None = None) -> None:
        self.settings = settings
        self.cfg = settings.cfg
        self.state: ServingState = load_state(settings) if state is None else state
        self.cache = ResponseCache(self.cfg.cache_entries)
        self.news = open_news_desk(settings)  # the headline store (serving/news.py), read per answer
        from serving.live_scorecard import LiveScorecards

        self.live = LiveScorecards(settings)  # logs served forecasts; their scorecard on the model card
        self.now: Callable[[], object] | None = None  # the live clock (serving/live.py); None: the real UTC now
        # the live refresh block added to the agent heatmap (serving/refresher.py Refresher.mark_dict), never cached
        self.refresh_mark: Callable[[dict, str | None], dict] | None = None

    # ---- state --------------------------------------------------------------------------------
    def swap(self, new_state: ServingState) -> None:
        """Serve `new_state` from now on (a reload); every cached answer of the old one is dropped."""
        self.state = new_state
        self.cache.clear()
        self.live.clear()

    @property
    def horizons(self) -> tuple[str, ...]:
        """The forecast horizons the configured timeframes answer with (1W, 1M, 3M by default)."""
        return tuple(dict.fromkeys(self.cfg.horizon_for_timeframe.values()))

    def _universe(self, state: ServingState, name: str | None) -> tuple[str, UniverseState]:
        from serving.request import parse_name

        return state.resolve(self.cfg.universes[0] if name is None else parse_name(name, "universe"))

    def resolve(self, universe: str | None = None) -> tuple[str, UniverseState]:
        """(configured name, state) of a universe this server loaded; RequestError naming the served ones."""
        return self._universe(self.state, universe)

    def _request(self, state: ServingState, universe, as_of) -> tuple[HeatmapRequest, str, UniverseState, str | None]:
        """`universe` and `as_of` checked exactly as a heatmap request checks them."""
        req = HeatmapRequest.parse({"universe": universe, "as_of": as_of}, self.cfg)
        name, u = self._universe(state, req.universe)
        day = None if req.as_of is None else req.as_of.date().isoformat()
        return req, name, u, day

    async def _cached_json(self, key: Hashable, compute: Callable[[], object]) -> dict:
        """`compute()` (in a worker thread) stored as finished JSON bytes; a fresh dict per call."""
        body, _ = await self.cache.get_or_compute(key, lambda: json_bytes(compute()))
        return json.loads(body)

    # ---- the heatmap (the same path as SectorHeatmap.heatmap_body) ----------------------------
    def _heatmap_request(self, state: ServingState, raw: dict):
        req = HeatmapRequest.parse(raw, self.cfg)  # cheap: the shape of each field is checked before parsing
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
            utc_day(),
        )  # (news: a news refresh is followed by a state swap, which clears the cache)
        return req, u, key

    def _build_heatmap(self, u: UniverseState, req) -> bytes:
        from serving.intraday import with_intraday
        from serving.news import heatmap_with_news

        def record(frame) -> None:  # only here, on a cache miss: a cached answer never logs again
            self.live.record(u, frame)

        # a RequestError (as_of before the data, a benchmark that is not the universe's) reaches the caller
        now = None if self.now is None else self.now()
        champion = self.live.champion(u)
        body = heatmap_with_news(u.dataset, req, champion, u.model_status, self.cfg, self.news, now=now, record=record)
        # today's partial move in the relative-return cells only, marked intraday (never in features or the model)
        return json_bytes(with_intraday(body, u.intraday, req, u.dataset.config.neutral_threshold_pp))

    async def heatmap(self, raw: dict | None) -> tuple[bytes, bool, tuple]:
        """(JSON bytes of POST /heatmap, cache hit, cache key) for a heatmap request mapping."""
        state = self.state
        req, u, key = self._heatmap_request(state, raw or {})
        body, hit = await self.cache.get_or_compute(("heatmap", *key), lambda: self._build_heatmap(u, req))
        return body, hit, key

    async def agent_heatmap(self, raw: dict | None) -> tuple[dict, bool]:
        """The heatmap JSON plus `market_overview` (sentences from the data) and `skill` (plain words).

        The heatmap part is the very body POST /heatmap answers for the same request (the same cache
        entry); the overview comes from the same universe and as_of."""
        raw = dict(raw or {})
        body, hit, key = await self.heatmap(raw)
        # the heatmap request is valid, so these are too; the same session is answered
        overview = await self.overview(raw.get("universe"), raw.get("as_of"))

        def compute() -> dict:
            resp = json.loads(body)
            return {**resp, "market_overview": overview_sentences(resp, overview), "skill": skill_words(resp)}

        out, extra_hit = await self.cache.get_or_compute(("agent_heatmap", *key), lambda: json_bytes(compute()))
        answer = json.loads(out)
        mark = self.refresh_mark
        return (answer if mark is None else mark(answer, raw.get("universe"))), hit and extra_hit

    async def matrix(self, raw: dict | None) -> tuple[bytes, bool]:
        """(JSON bytes of POST /matrix, cache hit)."""
        from features.matrix import rotation_matrix
        from serving.heatmap import survivorship

        state = self.state
        req = HeatmapRequest.parse(raw or {}, self.cfg)  # the same field checks as a heatmap request
        name, u = self._universe(state, req.universe)

        def compute() -> bytes:  # (in a worker thread) as_of before the data starts: a RequestError, as for /heatmap
            ds = u.dataset
            m = rotation_matrix(ds.panels, ds.universe, req.as_of, ds.config)
            return json_bytes(
                {
                    "universe": ds.universe.name,
                    "data_source": ds.source.label,
                    "is_demo": ds.source.synthetic,
                    **m.to_dict(),
                    **survivorship(ds),
                }
            )

        as_of = None if req.as_of is None else req.as_of.date().isoformat()
        return await self.cache.get_or_compute(("matrix", state.generation, name, as_of, u.data_version), compute)

    def model_info(self, universe: str | None = None) -> dict:
        from serving.heatmap import model_card

        _, u = self.resolve(universe)
        return {
            "universe": u.dataset.universe.name,
            "model_status": u.model_status,
            "model": model_card(self.live.champion(u)),
            "data_source": u.dataset.source.label,
        }

    def status(self) -> dict:
        st = self.state
        return {
            "generation": st.generation,
            "load_seconds": round(st.seconds, 2),
            "universes": st.summaries(),  # the ones that could not be loaded too, with why in their notes
        }

    async def sector_news(self, sector: str, days=None, universe: str | None = None, as_of=None) -> dict:
        """One sector's scored headlines over the last `days` (POST /news, the get_sector_news tool)."""
        import pandas as pd

        from serving.news import check_days, news_answer

        state = self.state
        req, name, u, day = self._request(state, universe, as_of)
        span = check_days(days)
        now = pd.Timestamp.now("UTC") if self.now is None else pd.Timestamp(self.now())  # the live clock
        key = ("news", state.generation, name, day, str(sector)[:EXCERPT_CHARS], span, self.news.version(), utc_day())
        return await self._cached_json(key, lambda: news_answer(self.news, u.dataset, sector, span, req.as_of, now))

    # ---- the agent tools ----------------------------------------------------------------------
    def universes(self) -> dict:
        """The universes this server loaded: benchmark, sectors, data, model, what the other tools accept."""
        from features.overview import available_macro
        from features.stock import analysable

        out = []
        for key, u in self.state.universes.items():
            ds, uni = u.dataset, u.dataset.universe
            s = u.summary()
            out.append(
                {
                    "name": key,
                    "universe": uni.name,
                    "description": uni.description,
                    "benchmark": uni.benchmark,
                    "sectors": [
                        {
                            "ticker": sec.key,
                            "name": ds.panels.names.get(sec.key, sec.name),
                            "cohort": uni.cohort_of(sec.key),
                            "members": len(sec.members),
                        }
                        for sec in uni.sectors
                    ],
                    "data_source": s["data_source"],
                    "is_demo": s["is_demo"],
                    "data_through": s["data_through"],
                    "notes": s["notes"],
                    "model_status": s["model_status"],
                    "model_version": s["model_version"],
                    "macro_indicators": [m.name for m in available_macro(ds)],
                    "tickers": analysable(ds),
                }
            )
        return {"default": self.cfg.universes[0], "universes": out}

    async def overview(self, universe: str | None = None, as_of=None) -> dict:
        """Benchmark returns, breadth, leadership (heuristic), volatility regime, data freshness."""
        import pandas as pd

        from features.overview import market_overview
        from serving.freshness import freshness

        state = self.state
        req, name, u, day = self._request(state, universe, as_of)

        def compute() -> dict:
            ds = u.dataset
            fresh = freshness(
                ds.panels.dates[-1], ds.universe.calendar, pd.Timestamp.now("UTC"), self.cfg.stale_sessions
            )
            return {**market_overview(ds, req.as_of), "is_demo": ds.source.synthetic, "freshness": fresh}

        return await self._cached_json(("overview", state.generation, name, day, u.data_version, utc_day()), compute)

    async def macro(
        self, indicators: Sequence[str] | str | None = None, universe: str | None = None, as_of=None
    ) -> dict:
        """Latest value and 1W/1M/3M change of the macro series the data holds (or of `indicators`)."""
        from features.overview import macro_indicators

        state = self.state
        names = parse_names(indicators, "indicators")
        req, name, u, day = self._request(state, universe, as_of)
        key = ("macro", state.generation, name, day, names, u.data_version)
        return await self._cached_json(key, lambda: macro_indicators(u.dataset, names, req.as_of))

    async def rotation(self, universe: str | None = None, as_of=None, tail_weeks=None) -> dict:
        """The descriptive rotation matrix, each sector's relative-rotation coordinates and quadrant, and its
        weekly tail (POST /rotation and the get_sector_rotation tool: the same answer)."""
        from features.rotation import TAIL_WEEKS, check_tail_weeks, sector_rotation
        from serving.heatmap import survivorship

        state = self.state
        weeks = TAIL_WEEKS if tail_weeks is None else check_tail_weeks(tail_weeks)
        req, name, u, day = self._request(state, universe, as_of)

        def compute() -> dict:
            rot = sector_rotation(u.dataset, req.as_of, weeks)
            return {**rot, "is_demo": u.dataset.source.synthetic, **survivorship(u.dataset)}

        return await self._cached_json(("rotation", state.generation, name, day, weeks, u.data_version), compute)

    async def sector(self, raw: dict | None) -> dict:
        """One sector (POST /sector): breadth, concentration, members vs the sector and the benchmark, top and
        bottom contributors over the timeframe; for a universe of ETFs the sector's own figures and a note."""
        from features.breadth import sector_drilldown
        from serving.heatmap import survivorship
        from serving.request import parse_name

        raw = dict(raw or {})
        if "sector" not in raw or raw["sector"] is None:
            raise RequestError("sector: required; give a sector name or ticker")
        sector = parse_name(raw.pop("sector"), "sector")
        unknown = sorted(set(raw) - {"universe", "as_of", "timeframe"})
        if unknown:
            raise RequestError(
                f"{field_name(unknown[0])}: unknown parameter; expected sector, universe, as_of, timeframe"
            )
        state = self.state
        req = HeatmapRequest.parse(raw, self.cfg)  # universe, as_of and timeframe checked as for /heatmap
        name, u = self._universe(state, req.universe)
        day = None if req.as_of is None else req.as_of.date().isoformat()

        def compute() -> dict:
            return {**sector_drilldown(u.dataset, sector, req.timeframe, req.as_of), **survivorship(u.dataset)}

        key = ("sector", state.generation, name, day, req.timeframe, sector.casefold(), u.data_version)
        return await self._cached_json(key, compute)

    async def stock(self, ticker: str, universe: str | None = None, as_of=None) -> dict:
        """One ticker of the loaded data against the benchmark, its sector and its standing there."""
        from features.stock import stock_analysis

        state = self.state
        if not isinstance(ticker, str) or not ticker.strip():
            raise RequestError(f"ticker: expected a ticker symbol, got {excerpt(ticker)}")
        if len(ticker.strip()) > EXCERPT_CHARS:
            raise RequestError(
                f"ticker: expected a symbol of at most {EXCERPT_CHARS} characters, got {excerpt(ticker)}"
            )
        symbol = ticker.strip().upper()
        req, name, u, day = self._request(state, universe, as_of)

        def compute() -> dict:
            ds = u.dataset
            return {
                **stock_analysis(ds, symbol, req.as_of),
                "universe": ds.universe.name,
                "is_demo": ds.source.synthetic,
            }

        return await self._cached_json(("stock", state.generation, name, day, symbol, u.data_version), compute)

    async def forecast(self, horizon: str | None = None, universe: str | None = None, as_of=None) -> dict:
        """The predicted columns (per horizon: expected relative return, interval, P(outperform), rank)
        and the model card with its out-of-sample skill in plain words.

        Read from the heatmap answer of the same universe and as_of (the configured default timeframe,
        every metric), so the numbers are those of POST /heatmap."""
        if horizon is not None and horizon not in self.horizons:
            raise RequestError(f"horizon: unknown {excerpt(horizon)}; expected one of {', '.join(self.horizons)}")
        body, _, key = await self.heatmap({"universe": universe, "as_of": as_of})

        def compute() -> dict:
            return forecast_from_heatmap(json.loads(body), horizon)

        out, _ = await self.cache.get_or_compute(("forecast", *key, horizon), lambda: json_bytes(compute()))
        return json.loads(out)


# ---- readable sentences built from the answers (pure) ------------------------------------------
def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.0f}th percentile"


def overview_sentences(resp: dict, overview: dict) -> str:
    """One or two sentences: the heatmap's market context, then breadth and the volatility regime."""
    tf = resp["timeframe"]
    parts = [resp["market_context"]]
    b = overview.get("breadth", {}).get(tf)
    extra = []
    if b:
        extra.append(f"{b['beat_benchmark']} of {b['sectors']} sectors beat {overview['benchmark']} over {tf}")
    vol = overview.get("volatility_regime")
    if vol:
        extra.append(
            f"volatility regime {vol['regime']} (VIX {vol['vix']}, {_pct(vol['percentile_1y'])} of the last year)"
        )
    if extra:
        text = "; ".join(extra)
        parts.append(text[0].upper() + text[1:] + ".")
    return " ".join(parts)


def skill_words(resp: dict) -> str:
    """The model's measured out-of-sample skill at the timeframe's horizon, and what the score makes of it."""
    card, health = resp.get("model"), resp["health"]
    horizon = health["predicted_horizon"]
    if card is None:
        return f"No model predictions ({resp['model_status']}); the health score uses the descriptive components only."
    who = f"model {card.get('name')} v{card.get('version')}"
    window = card.get("training_window")
    if window:
        who += f" (trained on {window[0]} to {window[1]})"
    summary = (card.get("skill", {}).get(horizon) or {}).get("summary")
    if summary is None:
        return f"The {who} has no {horizon} horizon, so its forecasts carry no weight in the health score."
    weight = health["weights"].get("predicted", 0.0)
    verdict = "no weight" if not weight else f"weight {weight:.2f} (of 1)"
    return f"Out-of-sample skill of the {who} at {horizon}: {summary}. Its forecasts get {verdict} in the health score."


def forecast_from_heatmap(resp: dict, horizon: str | None) -> dict:
    """The forecast answer read off a heatmap answer (every number copied, none recomputed)."""
    card = resp.get("model")
    horizons = list(card["horizons"]) if card else []
    if horizon is not None and card is not None and horizon not in horizons:
        raise RequestError(f"horizon: the model has no {horizon} horizon; it has {', '.join(horizons)}")
    shown = [horizon] if horizon is not None else horizons
    skill = {h: card["skill"][h]["summary"] for h in shown} if card else {}
    order = shown[0] if shown else None
    rows = []
    for s in resp["sectors"]:
        pred = s.get("predicted") or {}
        rows.append(
            {
                "name": s["name"],
                "ticker": s["ticker"],
                "cohort": s["cohort"],
                "predicted": {h: pred[h] for h in shown if h in pred},
            }
        )
    if order is not None:
        rows.sort(key=lambda r: (_rank_of(r, order) is None, _rank_of(r, order) or 0.0, r["ticker"]))
    if card is None:
        meaning = f"no predictions: {resp['model_status']}"
    elif all("not distinguishable" in skill[h] or "no out-of-sample" in skill[h] for h in shown):
        meaning = (
            "the model's out-of-sample skill is not distinguishable from zero at these horizons: "
            "treat the forecasts as noise, not as a signal"
        )
    else:
        meaning = "read each forecast with its interval and the skill of its horizon; rank IC near 0 means no skill"
    return {
        "universe": resp["universe"],
        "benchmark": resp["benchmark"],
        "as_of": resp["as_of"],
        "data_through": resp["data_through"],
        "data_source": resp["data_source"],
        "is_demo": resp["is_demo"],
        "model_status": resp["model_status"],
        "model": card,
        "horizons": shown,
        "interval_coverage": None if card is None else card.get("interval_coverage"),
        "skill": skill,
        "skill_meaning": meaning,
        "order": f"by expected {order} relative return, best first" if order else "as in the heatmap",
        "sectors": rows,
    }


def _rank_of(row: dict, horizon: str):
    cell = row["predicted"].get(horizon)
    return None if cell is None else cell.get("rank")
