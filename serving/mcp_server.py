"""The MCP server: the heatmap and its context as tools AI agents call (Model Context Protocol).

`build_mcp(engine)` returns an `mcp.server.mcpserver.MCPServer` named "sector-heatmap" whose tools
call a `HeatmapEngine` (serving/engine.py), the same code path and response cache as the HTTP API:

  get_sector_heatmap(timeframe, metrics, market_index, universe, as_of)   POST /heatmap + two summaries
  get_market_overview(universe, as_of)          benchmark returns, breadth, leadership, volatility regime
  get_macro_indicators(indicators, as_of)       VIX, yields, curve, credit, Treasuries, dollar, oil, gold...
  get_sector_rotation(universe, as_of)          rotation matrix + relative-rotation coordinates/quadrants
  get_sector_forecast(horizon, universe, as_of) the predicted columns with the model card and its skill
  get_stock_analysis(ticker, universe, as_of)   one ticker of the loaded data vs the benchmark and its sector
  get_sector_news(sector, days, universe, as_of) one sector's scored headlines, news sentiment and volume
  list_universes()                              what this server loaded

Every tool is read-only and idempotent (annotated so), every argument has a description and a schema
(enums for the fixed vocabularies), and every result is structured (an output schema from
serving/mcp_schemas.py) and readable (a short text summary, then the JSON). A bad argument comes back
as a tool error (isError) whose text names the argument and the valid values; nothing a caller sends
is a path or a host: universes are picked by name among those loaded, tickers among the loaded data.

Transports: `sector-heatmap mcp` (serving/mcp_cli.py) runs it over stdio. For streamable HTTP inside the
BentoML service, `build_mcp(lambda: bentoml.get_current_service().engine).streamable_http_app(
streamable_http_path="/mcp")` is a Starlette app to mount with `bentoml.asgi_app(app, path="/", name="mcp")`:
BentoML enters a mounted Starlette app's lifespan (which runs the SDK's session manager) after the service
instance exists, and the engine is looked up per call, so /reload's swap reaches the tools.
Building the server has no side effect beyond the SDK's own logging set-up (a stderr handler when the
process has none); nothing happens at import.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, Literal, get_args

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from features.errors import SectorHeatmapError
from serving.config import ServingConfig
from serving.engine import HeatmapEngine
from serving.http_errors import excerpt, field_name
from serving.mcp_schemas import (
    MacroIndicatorsResult,
    MarketOverviewResult,
    SectorForecastResult,
    SectorHeatmapResult,
    SectorRotationResult,
    StockAnalysisResult,
    UniversesResult,
)
from serving.schemas import NewsResponse, SectorResponse

NAME = "sector-heatmap"
INSTRUCTIONS = (
    "Sector heatmap of a stock market universe (default: the 11 US sector ETFs vs SPY): which sectors lead "
    "and lag, which a model expects to lead next, and how far to trust that forecast. Typical workflow: "
    "get_macro_indicators and get_market_overview for context, get_sector_heatmap for every sector's health "
    "score (0-100, descriptive and predicted columns side by side), get_sector_rotation or get_sector_forecast "
    "to drill in, get_stock_analysis for one ticker, list_universes for what is loaded. Dates are YYYY-MM-DD "
    "(default: the latest session). Read the `skill` of any forecast: when it is not distinguishable from "
    "zero, the predicted columns are noise and the health score ignores them. Demo data is synthetic."
)

# The request vocabulary (serving/config.py ServingConfig and features/overview.py MACRO): the schemas'
# enums. A YAML that changes the timeframes or metrics gets its own enums at build time (_vocabulary).
Timeframe = Literal["1D", "1W", "1M", "3M"]
Metric = Literal["performance", "volume_growth", "momentum", "sentiment_score", "volatility", "predicted", "breadth"]
Horizon = Literal["1W", "1M", "3M"]
Indicator = Literal[
    "vix",
    "yield_10y",
    "curve_10y_5y",
    "credit_hy_vs_ig",
    "long_treasuries",
    "dollar",
    "oil",
    "gold",
    "copper_gold",
]

TIMEFRAME_HELP = "window of the descriptive columns and of the forecast that feeds the health score: 1D, 1W, 1M or 3M"
METRICS_HELP = (
    "column groups to include: performance (relative return vs the benchmark), volume_growth, momentum, "
    "sentiment_score, volatility, predicted (the model's forecasts); default: all"
)
UNIVERSE_HELP = "a universe this server loaded, by name (see list_universes); default: the first one"
AS_OF_HELP = "a date YYYY-MM-DD (the last session on or before it is described); default: the latest session"

UniverseArg = Annotated[str | None, Field(description=UNIVERSE_HELP, max_length=200)]
AsOfArg = Annotated[str | None, Field(description=AS_OF_HELP, examples=["2024-06-28"], max_length=200)]
TimeframeArg = Annotated[Timeframe, Field(description=TIMEFRAME_HELP)]
MetricsArg = Annotated[list[Metric] | None, Field(description=METRICS_HELP, max_length=20)]
MarketIndexArg = Annotated[
    str | None,
    Field(
        description="the universe's benchmark ticker (e.g. SPY); checked, not switchable; default: it", max_length=200
    ),
]
HORIZON_HELP = "forecast horizon: 1W, 1M or 3M (5, 21, 63 sessions ahead); default: every horizon the model has"
HorizonArg = Annotated[Horizon | None, Field(description=HORIZON_HELP)]
IndicatorsArg = Annotated[
    list[Indicator] | None,
    Field(
        description="macro series to report: vix, yield_10y, curve_10y_5y (10y minus 5y), credit_hy_vs_ig (HYG vs "
        "LQD), long_treasuries (TLT), dollar (UUP), oil, gold, copper_gold; default: every one the data holds",
        max_length=20,
    ),
]
TickerArg = Annotated[
    str,
    Field(
        description="a ticker present in the loaded data: a sector ETF (e.g. XLK), a constituent, a context series "
        "(e.g. ^VIX) or the benchmark (see list_universes for the full list)",
        examples=["XLK"],
        max_length=200,
    ),
]

SectorArg = Annotated[
    str,
    Field(
        description="a sector of the universe: its key (ETF ticker, e.g. XLK) or its name",
        examples=["XLK"],
        max_length=200,
    ),
]
DaysArg = Annotated[
    float | None, Field(description="list headlines published within this many days (0-90]; default 7", gt=0, le=90)
]

READ_ONLY = {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True, "open_world_hint": False}


def _annotations(title: str) -> ToolAnnotations:
    return ToolAnnotations(title=title, **READ_ONLY)


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "arguments"


def validation_message(exc: ValidationError) -> str:
    """Pydantic's argument errors as '<argument>: <what is wrong> (got <excerpt>)', one per problem."""
    parts = []
    for err in exc.errors():
        got = "" if err["type"] == "missing" else f" (got {excerpt(err.get('input'))})"
        parts.append(f"{_loc(err['loc'])}: {err['msg']}{got}")
    return "; ".join(parts)


class SectorHeatmapMCP(MCPServer):
    """MCPServer whose argument errors read like the HTTP API's: they name the argument, once, plainly.

    The SDK already answers every tool failure as an isError result (never a protocol error); this only
    rewrites the text of two of them: arguments that fail the input schema (pydantic's multi-line report)
    and arguments the tool does not take (which the SDK would silently ignore)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            known = list(tool.parameters.get("properties", {}))
            unknown = [k for k in arguments if k not in known]
            if unknown:
                raise ToolError(
                    f"Error executing tool {name}: {field_name(unknown[0])}: unknown argument; "
                    f"{name} takes {', '.join(known) or 'no arguments'}"
                )
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {validation_message(cause)}") from cause


def _result(data: dict, summary: str) -> CallToolResult:
    """Structured content (the data as it is) and text: the summary, then the JSON (compact, as the HTTP API
    sends it: the C encoder, where an indented dump of a heatmap costs milliseconds)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(
        content=[TextContent(type="text", text=summary), TextContent(type="text", text=text)],
        structured_content=data,
    )


async def _answer(work: Awaitable[dict], summarize: Callable[[dict], str]) -> CallToolResult:
    """Run one engine call: a problem with the request (or the data) is a tool error with its one-line message."""
    try:
        data = await work
    except SectorHeatmapError as exc:
        raise ToolError(str(exc)) from None
    return _result(data, summarize(data))


# ---- readable summaries -------------------------------------------------------------------------
def _num(x, fmt: str = "+.1f", unit: str = "") -> str:
    return "n/a" if x is None else f"{x:{fmt}}{unit}"


def _data_line(d: dict) -> str:
    flags = [" — DEMO market (synthetic prices)" if d.get("is_demo") else ""]
    if d.get("stale"):
        flags.append(" — STALE data")
    return f"data: {d['data_source']}{''.join(flags)}"


def heatmap_summary(d: dict) -> str:
    tf, horizon = d["timeframe"], d["health"]["predicted_horizon"]
    lines = [
        f"Sector heatmap: {d['universe']} vs {d['benchmark']}, as of {d['as_of']} (timeframe {tf}); {_data_line(d)}",
        d["market_overview"],
        d["skill"],
        "Sectors by health score (0-100):",
    ]
    for i, s in enumerate(d["sectors"], 1):
        rel = (s["descriptive"].get("rel_return_pp") or {}).get(tf)
        pred = (s.get("predicted") or {}).get(horizon)
        cells = [f"{tf} vs {d['benchmark']} {_num(rel, unit=' pp')}" if rel is not None else ""]
        if pred:
            cells.append(f"forecast {horizon} {_num(pred['expected_rel_return_pp'], unit=' pp')} (rank {pred['rank']})")
        detail = ", ".join(c for c in cells if c)
        lines.append(
            f"{i}. {s['ticker']} {s['name']}: {_num(s['health_score'], '.1f')}" + (f" — {detail}" if detail else "")
        )
    return "\n".join(lines)


def overview_summary(d: dict) -> str:
    bench = d["benchmark"]
    rets = ", ".join(f"{w} {_num(v, unit='%')}" for w, v in d["benchmark_return_pct"].items())
    breadth = ", ".join(f"{w} {b['beat_benchmark']}/{b['sectors']}" for w, b in d["breadth"].items())
    lead = ", ".join(f"{w} {ld['leader']}" for w, ld in d["leadership"].items())
    vol = d.get("volatility_regime")
    vol_text = (
        f"volatility regime {vol['regime']} (VIX {vol['vix']}, percentile {vol['percentile_1y']} over a year)"
        if vol
        else "no VIX in the data"
    )
    fresh = d["freshness"]
    return "\n".join(
        [
            f"Market overview: {d['universe']} as of {d['as_of']}; {_data_line(d)}",
            f"{bench} return: {rets}",
            f"Sectors beating {bench}: {breadth}",
            f"Leading cohort (heuristic): {lead}",
            vol_text,
            f"Data through {fresh['data_through']}, {fresh['sessions_behind']} session(s) behind"
            + (" (stale)" if fresh["stale"] else ""),
        ]
    )


def macro_summary(d: dict) -> str:
    lines = [f"Macro indicators as of {d['as_of']} (data: {d['data_source']}):"]
    for m in d["indicators"]:
        unit = " pts" if m["change_unit"] == "points" else "%"
        change = ", ".join(f"{w} {_num(v, '+.2f', unit)}" for w, v in m["change"].items())
        lines.append(f"- {m['name']} ({m['label']}): {m['value']} {m['unit']} on {m['date']}; change {change or 'n/a'}")
    if not d["indicators"]:
        lines.append("(this data holds no macro series)")
    return "\n".join(lines)


def rotation_summary(d: dict) -> str:
    points = {p["ticker"]: p for p in d["relative_rotation"]}
    lines = [f"Sector rotation: {d['universe']} vs {d['benchmark']} as of {d['as_of']} ({d['order']})"]
    for r in d["rows"]:
        spreads = ", ".join(f"{w} {_num(v, unit=' pp')}" for w, v in r["spread_pp"].items())
        p = points.get(r["ticker"], {})
        lines.append(f"- {r['ticker']} {r['sector']}: {spreads}; quadrant {p.get('quadrant') or 'n/a'}")
    lead = ", ".join(f"{w} {ld['leader']}" for w, ld in d["leadership"].items())
    lines.append(f"Leadership (heuristic): {lead}")
    return "\n".join(lines)


def sector_summary(d: dict) -> str:
    s = d["sector"]
    who = s["name"] if s["name"] == s["ticker"] else f"{s['name']} ({s['ticker']})"
    lines = [
        f"{who} in {d['universe']} as of {d['as_of']}, {d['timeframe']}: return "
        f"{_num(s['return_pct'], unit='%')}, vs {d['benchmark']} {_num(s['rel_return_pp'], unit=' pp')}"
    ]
    b = d["breadth"]
    if b is None:
        lines.append(d["note"])
        return "\n".join(lines)
    above = ", ".join(f"{w}-day {_num(c['share'] and 100 * c['share'], '.0f', '%')}" for w, c in b["above_sma"].items())
    ad, hl = b["advance_decline"], b["new_highs_lows_52w"]
    lines.append(
        f"Breadth: above averages {above}; advancers {ad['up']} vs decliners {ad['down']} of {ad['of']}; "
        f"new 52-week highs {hl['up']} vs lows {hl['down']}"
    )
    lines.append(f"Top contributors: {', '.join(d['top_contributors'])}; bottom: {', '.join(d['bottom_contributors'])}")
    return "\n".join(lines)


def forecast_summary(d: dict) -> str:
    lines = [
        f"Sector forecast: {d['universe']} vs {d['benchmark']} from {d['as_of']}; {_data_line(d)}",
        f"Model: {d['model_status']}" if d["model"] is None else f"Model {d['model']['name']} v{d['model']['version']}",
        *(f"{h}: {text}" for h, text in d["skill"].items()),
        f"Meaning: {d['skill_meaning']}",
    ]
    for s in d["sectors"]:
        cells = [
            f"{h} {_num(c['expected_rel_return_pp'], unit=' pp')} "
            f"[{_num(c['interval_pp'][0])}, {_num(c['interval_pp'][1])}] "
            f"P(out) {_num(c['prob_outperform'], '.2f')} rank {c['rank']}"
            for h, c in s["predicted"].items()
        ]
        lines.append(f"- {s['ticker']} {s['name']}: " + ("; ".join(cells) or "no forecast"))
    return "\n".join(lines)


def stock_summary(d: dict) -> str:
    rel = ", ".join(f"{w} {_num(v, unit=' pp')}" for w, v in d["return_vs_benchmark_pp"].items())
    vol = ", ".join(f"{w} {_num(v, '.1f', '%')}" for w, v in d["volatility_pct_annualised"].items())
    trend = ", ".join(f"{w} {_num(v, unit='%')}" for w, v in d["trend_vs_average_pct"].items())
    sector = d["sector"]
    st = d["standing"]
    lines = [
        f"{d['ticker']} ({d['kind']}) as of {d['as_of']}: close {d['last_close']} on {d['last_close_date']}; "
        f"{_data_line(d)}",
        f"vs {d['benchmark']}: {rel}",
        f"volatility (annualised): {vol}; vs moving averages: {trend}",
    ]
    if sector:
        lines.append(f"sector: {sector['ticker']} {sector['name']}")
    if st:
        lines.append(f"standing over {st['window']}: rank {st['rank']} of {st['of']} {st['among']}")
    return "\n".join(lines)


def news_summary(d: dict) -> str:
    sent = "n/a" if d["news_sentiment"] is None else f"{d['news_sentiment']:+.2f}"
    vol = "n/a" if d["news_volume"] is None else f"{d['news_volume']:.2f}x usual"
    lines = [
        f"{d['sector']} {d['name']} news as of {d['read_at']}: sentiment {sent} (-1..1), volume {vol}; "
        f"{d['headline_count']} headline(s) in the last {d['days']:g} days"
    ]
    lines += [
        f"- [{h['score']:+.2f} {h['label']}] {h['title']} ({h['provider']}, {h['published']})"
        for h in d["headlines"][:10]
    ]
    if d.get("note"):
        lines.append(f"note: {d['note']}")
    return "\n".join(lines)


def universes_summary(d: dict) -> str:
    lines = [f"Universes loaded (default {d['default']}):"]
    for u in d["universes"]:
        lines.append(
            f"- {u['name']}: {len(u['sectors'])} sectors vs {u['benchmark']}, data {u['data_source']} through "
            f"{u['data_through']}{' (DEMO, synthetic)' if u['is_demo'] else ''}; model: {u['model_status']}"
        )
    return "\n".join(lines)


# ---- the server -----------------------------------------------------------------------------------
def _vocabulary(fn: Callable, cfg: ServingConfig) -> None:
    """Point the enums of `fn`'s arguments at the configured vocabulary when a YAML changed it."""
    ann = fn.__annotations__
    wanted = {
        "timeframe": (Timeframe, cfg.timeframes, lambda lit: Annotated[lit, Field(description=TIMEFRAME_HELP)]),
        "metrics": (Metric, cfg.metrics, lambda lit: Annotated[list[lit] | None, Field(description=METRICS_HELP)]),  # type: ignore[valid-type]
        "horizon": (
            Horizon,
            tuple(dict.fromkeys(cfg.horizon_for_timeframe.values())),
            lambda lit: Annotated[lit | None, Field(description=HORIZON_HELP)],
        ),
    }
    for arg, (default, values, build) in wanted.items():
        if arg in ann and tuple(values) != get_args(default):
            ann[arg] = build(Literal[tuple(values)])


def build_mcp(engine: HeatmapEngine | Callable[[], HeatmapEngine], cfg: ServingConfig | None = None) -> MCPServer:
    """The MCP server over `engine`, or over `engine()` asked per call (a service whose engine is built
    after its routes are, e.g. BentoML's `__init__`). `cfg` gives the vocabulary of the argument enums
    when `engine` is such a callable (default: the engine's own config, else the defaults)."""
    if isinstance(engine, HeatmapEngine):
        instance = engine
        get_engine: Callable[[], HeatmapEngine] = lambda: instance  # noqa: E731
        cfg = cfg or instance.cfg
    else:
        get_engine = engine
    cfg = cfg or ServingConfig()
    server = SectorHeatmapMCP(NAME, title="Sector heatmap", instructions=INSTRUCTIONS)

    async def get_sector_heatmap(
        timeframe: TimeframeArg = "1W",
        metrics: MetricsArg = None,
        market_index: MarketIndexArg = None,
        universe: UniverseArg = None,
        as_of: AsOfArg = None,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, SectorHeatmapResult]:
        """Every sector's health score (0-100) with its components and colour, the descriptive columns (what
        happened: relative return, momentum, volume, volatility, sentiment) and the predicted columns (the
        model's forecast per horizon with interval, probability of outperforming and rank) side by side,
        plus `market_overview` (sentences from the data) and `skill` (how far to trust the forecasts).
        The same JSON as POST /heatmap of the HTTP API."""
        raw = {
            "timeframe": timeframe,
            "metrics": metrics,
            "market_index": market_index,
            "universe": universe,
            "as_of": as_of,
        }
        await _progress(ctx, 0, "building the heatmap")
        result = await _answer(_first(get_engine().agent_heatmap(raw)), heatmap_summary)
        await _progress(ctx, 1, "done")
        return result

    async def get_market_overview(
        universe: UniverseArg = None, as_of: AsOfArg = None
    ) -> Annotated[CallToolResult, MarketOverviewResult]:
        """The market in numbers: benchmark return over 1D/1W/1M/3M/12M, breadth (how many sectors beat the
        benchmark per window), the leading cohort (early-cycle / late-cycle / defensive; a heuristic), the
        volatility regime (VIX level and its percentile over the last year) and data freshness."""
        return await _answer(get_engine().overview(universe, as_of), overview_summary)

    async def get_macro_indicators(
        indicators: IndicatorsArg = None, as_of: AsOfArg = None
    ) -> Annotated[CallToolResult, MacroIndicatorsResult]:
        """Latest value and 1W/1M/3M change of the macro series in the data (VIX, 10y yield, 10y-5y curve,
        credit HYG vs LQD, long Treasuries, dollar, oil, gold, copper/gold), each with its date and source
        tickers, from the default universe's data."""
        return await _answer(get_engine().macro(indicators, None, as_of), macro_summary)

    async def get_sector_rotation(
        universe: UniverseArg = None,
        as_of: AsOfArg = None,
        tail_weeks: Annotated[int, Field(ge=1, le=52, description="weekly points per rotation-graph tail")] = 8,
    ) -> Annotated[CallToolResult, SectorRotationResult]:
        """The descriptive rotation matrix (each sector's return minus the benchmark's over 1M/3M/12M,
        bull/bear/neutral, ordered by 12M, cohort leadership) and each sector's relative-rotation coordinates
        (RS-ratio, RS-momentum; causal) with its quadrant: leading, weakening, lagging or improving, and its
        weekly tail (the rotation graph). The same answer as POST /rotation."""
        return await _answer(get_engine().rotation(universe, as_of, tail_weeks), rotation_summary)

    async def get_sector_drilldown(
        sector: Annotated[str, Field(description="sector name or key (ETF ticker), any case", max_length=200)],
        timeframe: TimeframeArg = "1M",
        universe: UniverseArg = None,
        as_of: AsOfArg = None,
    ) -> Annotated[CallToolResult, SectorResponse]:
        """One sector over the timeframe: its return vs the benchmark, breadth (members above their 50/200-day
        averages, advancers vs decliners, new 52-week highs minus lows), concentration (weight of the top 5),
        every member's return vs the sector and the benchmark, and the top and bottom contributors. For a
        universe of ETFs: the sector's own figures and a note that no members are loaded. Same as POST /sector."""
        raw = {"sector": sector, "timeframe": timeframe, "universe": universe, "as_of": as_of}
        return await _answer(get_engine().sector(raw), sector_summary)

    async def get_sector_forecast(
        horizon: HorizonArg = None,
        universe: UniverseArg = None,
        as_of: AsOfArg = None,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, SectorForecastResult]:
        """The model's forecasts per sector and horizon (expected return relative to the benchmark, interval,
        probability of outperforming, rank), ordered best first, with the model card, its out-of-sample skill
        and what that skill means ("not distinguishable from zero" means: treat the forecasts as noise).
        The numbers are those of get_sector_heatmap's predicted columns."""
        await _progress(ctx, 0, "reading the forecasts")
        result = await _answer(get_engine().forecast(horizon, universe, as_of), forecast_summary)
        await _progress(ctx, 1, "done")
        return result

    async def get_stock_analysis(
        ticker: TickerArg, universe: UniverseArg = None, as_of: AsOfArg = None
    ) -> Annotated[CallToolResult, StockAnalysisResult]:
        """One ticker of the loaded data (a sector ETF, a constituent, a context series or the benchmark):
        return and return vs the benchmark over 1W/1M/3M/12M, volatility, trend vs its 50/200-day averages,
        its sector and its standing inside that sector."""
        return await _answer(get_engine().stock(ticker, universe, as_of), stock_summary)

    async def get_sector_news(
        sector: SectorArg, days: DaysArg = None, universe: UniverseArg = None, as_of: AsOfArg = None
    ) -> Annotated[CallToolResult, NewsResponse]:
        """One sector's recent headlines (its ETF and largest holdings, from the local headline store), each
        scored by the embedded finance sentiment scorer (-1..1), newest first, with the sector's news
        sentiment (recency-weighted) and news volume (attention vs its usual). Only headlines published by
        as_of are read. The same JSON as POST /news."""
        return await _answer(get_engine().sector_news(sector, days, universe, as_of), news_summary)

    async def list_universes() -> Annotated[CallToolResult, UniversesResult]:
        """The universes this server loaded: benchmark, sectors (ticker, name, cohort), data source and
        freshness, model status, the macro indicators and tickers the other tools accept for each."""

        async def work() -> dict:
            return get_engine().universes()

        return await _answer(work(), universes_summary)

    tools: list[tuple[Callable, str]] = [
        (get_sector_heatmap, "Sector heatmap"),
        (get_market_overview, "Market overview"),
        (get_macro_indicators, "Macro indicators"),
        (get_sector_rotation, "Sector rotation"),
        (get_sector_drilldown, "Sector drill-down"),
        (get_sector_forecast, "Sector forecast"),
        (get_stock_analysis, "Stock analysis"),
        (get_sector_news, "Sector news"),
        (list_universes, "Universes"),
    ]
    for fn, title in tools:
        _vocabulary(fn, cfg)
        server.add_tool(fn, title=title, annotations=_annotations(title), structured_output=True)
    return server


async def _progress(ctx: Context | None, done: float, message: str) -> None:
    """Progress out of 1, when the caller asked for it (the SDK drops it otherwise)."""
    if ctx is None:
        return
    with contextlib.suppress(ValueError):  # outside a request (MCPServer.call_tool directly): nobody to tell
        await ctx.report_progress(done, 1, message)


async def _first(work: Awaitable[tuple[dict, bool]]) -> dict:
    data, _ = await work
    return data


async def read_only_tools(server: MCPServer) -> frozenset[str]:
    """The tools annotated read-only and idempotent: their answers may be served again (serving/mcp_fastpath.py)."""
    return frozenset(
        t.name
        for t in await server.list_tools()
        if t.annotations and t.annotations.read_only_hint and t.annotations.idempotent_hint
    )
