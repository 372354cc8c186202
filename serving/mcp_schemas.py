"""Typed results of the MCP tools (serving/mcp_server.py): their output schemas.

Like serving/schemas.py (whose models these reuse), declarative only: the engine builds plain dicts
and the tools hand them over as they are; these models describe them. Every model forbids unknown
keys, so a key added to an answer but not here fails the MCP tests (the client validates every
structured result against the tool's output schema).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from serving.schemas import (
    Freshness,
    HeatmapResponse,
    Leadership,
    Matrix,
    ModelCard,
    PredictedCell,
    RotationTail,
    StrictBody,
)


# ---- get_sector_heatmap -------------------------------------------------------------------------
class SectorHeatmapResult(HeatmapResponse):
    """The body POST /heatmap answers for the same request, plus two readable summaries."""

    market_overview: str = Field(
        description="one or two sentences from the data: the benchmark's move, the leading cohort, strongest "
        "and weakest sector, breadth and the volatility regime"
    )
    skill: str = Field(
        description="the model's measured out-of-sample skill at the timeframe's horizon in plain words, and "
        "the weight its forecasts get in the health score"
    )


# ---- get_market_overview ------------------------------------------------------------------------
class Breadth(StrictBody):
    beat_benchmark: int = Field(description="sectors whose return beat the benchmark's over the window")
    sectors: int = Field(description="sectors with data over the window")


class VolatilityRegime(StrictBody):
    vix: float | None = Field(description="VIX level on `date`")
    percentile_1y: float | None = Field(description="share of the last year's VIX closes at or below this level (0-1)")
    regime: Literal["low", "normal", "high"] = Field(description="terciles of percentile_1y (a heuristic)")
    date: str = Field(description="date of the VIX value, YYYY-MM-DD")
    rule: str = Field(description="how the regime is read")


class MarketOverviewResult(StrictBody):
    """The market in numbers an agent reads first."""

    universe: str = Field(description="universe name")
    benchmark: str = Field(description="benchmark ticker")
    as_of: date = Field(description="session described (the last one on or before the requested as_of)")
    data_through: date | None = Field(description="last session in the data")
    data_source: str = Field(description="the data actually used (fallbacks included)")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")
    freshness: Freshness = Field(description="how far behind the market the data is")
    benchmark_return_pct: dict[str, float | None] = Field(description="window (1D..12M) -> benchmark return, %")
    breadth: dict[str, Breadth] = Field(description="window -> how many sectors beat the benchmark")
    leadership: dict[str, Leadership] = Field(description="window -> which cohort leads (a heuristic)")
    leadership_rule: str = Field(description="how the leader is chosen (a heuristic)")
    volatility_regime: VolatilityRegime | None = Field(description="VIX level and regime; null without VIX data")


# ---- get_macro_indicators -----------------------------------------------------------------------
class MacroIndicator(StrictBody):
    name: str = Field(description="indicator name (what `indicators` accepts)")
    label: str = Field(description="what it is")
    value: float | None = Field(description="latest value on or before as_of; null when the series is empty")
    date: str | None = Field(description="date of that value, YYYY-MM-DD")
    unit: str = Field(description="unit of value")
    source: list[str] = Field(description="the ticker(s) it is computed from")
    change: dict[str, float | None] = Field(description="window (1W, 1M, 3M) -> change, in change_unit")
    change_unit: Literal["points", "%"] = Field(description="points: difference; %: percent change")


class MacroIndicatorsResult(StrictBody):
    as_of: date = Field(description="session described")
    data_source: str = Field(description="the data actually used")
    indicators: list[MacroIndicator] = Field(description="one entry per indicator, in the order asked")


# ---- get_sector_rotation ------------------------------------------------------------------------
class RotationPoint(StrictBody):
    sector: str = Field(description="sector name")
    ticker: str = Field(description="sector ticker (key)")
    rs_ratio: float | None = Field(description="RS-ratio: 100 + 10 x trailing z-score of relative strength")
    rs_momentum: float | None = Field(description="RS-momentum: 100 + 10 x trailing z-score of the RS-ratio's change")
    quadrant: Literal["leading", "weakening", "lagging", "improving"] | None = Field(
        description="relative-rotation quadrant (see quadrant_rule); null without both coordinates"
    )


class SectorRotationResult(Matrix):
    """The descriptive rotation matrix plus each sector's relative-rotation coordinates (causal)."""

    universe: str = Field(description="universe name")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")
    relative_rotation: list[RotationPoint] = Field(description="one point per sector listed on as_of")
    quadrant_rule: str = Field(description="how the quadrant is read (descriptive, not a forecast)")
    tail_weeks: int = Field(description="weekly points per tail, the head included")
    tail_rule: str = Field(description="how the tails are sampled (causal)")
    tails: list[RotationTail] = Field(description="per sector listed on as_of: its weekly rotation-graph tail")


# ---- get_sector_forecast ------------------------------------------------------------------------
class ForecastRow(StrictBody):
    name: str = Field(description="sector name")
    ticker: str = Field(description="sector ticker (key)")
    cohort: str | None = Field(description="business-cycle cohort, null if none")
    predicted: dict[str, PredictedCell] = Field(description="horizon -> forecast; empty without predictions")


class SectorForecastResult(StrictBody):
    """The predicted columns of the heatmap, per horizon, with the model card and what its skill means."""

    universe: str = Field(description="universe name")
    benchmark: str = Field(description="benchmark the forecasts are relative to")
    as_of: date = Field(description="session the forecasts start from")
    data_through: date = Field(description="last session in the data")
    data_source: str = Field(description="the data actually used")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")
    model_status: str = Field(description="'ok' or why there are no predictions")
    model: ModelCard | None = Field(description="the champion that made the forecasts; null without one")
    horizons: list[str] = Field(description="horizons shown")
    interval_coverage: float | None = Field(description="nominal coverage of the intervals (0-1)")
    skill: dict[str, str] = Field(description="horizon -> out-of-sample skill in plain words")
    skill_meaning: str = Field(description="what that skill means for these forecasts")
    order: str = Field(description="row order")
    sectors: list[ForecastRow] = Field(description="one row per sector listed on as_of")


# ---- get_stock_analysis -------------------------------------------------------------------------
class SectorRef(StrictBody):
    ticker: str = Field(description="sector ticker (key)")
    name: str = Field(description="sector name")


class Standing(StrictBody):
    window: str = Field(description="window of the ranking")
    rank: int = Field(description="1 = best relative return over the window")
    of: int = Field(description="how many are ranked")
    among: str = Field(description="who it is ranked among")
    vs_sector_pp: float | None = Field(description="return minus its sector's over the window, pp (members only)")


class StockAnalysisResult(StrictBody):
    ticker: str = Field(description="the ticker analysed")
    kind: Literal["benchmark", "sector", "member", "context", "other"] = Field(description="its role in the universe")
    universe: str = Field(description="universe name")
    as_of: date = Field(description="session described")
    last_close: float | None = Field(description="close on last_close_date")
    last_close_date: str | None = Field(description="its last close on or before as_of, YYYY-MM-DD")
    benchmark: str = Field(description="benchmark ticker")
    return_pct: dict[str, float | None] = Field(description="window -> total return, %")
    return_vs_benchmark_pp: dict[str, float | None] = Field(description="window -> return minus the benchmark's, pp")
    volatility_pct_annualised: dict[str, float | None] = Field(description="21d / 63d realised volatility, % a year")
    trend_vs_average_pct: dict[str, float | None] = Field(description="close vs its 50 / 200-day average, %")
    sector: SectorRef | None = Field(description="its sector; null for the benchmark or a context series")
    standing: Standing | None = Field(description="its rank inside its sector (members) or among sectors")
    data_source: str = Field(description="the data actually used")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")


# ---- list_universes -----------------------------------------------------------------------------
class SectorInfo(StrictBody):
    ticker: str = Field(description="sector ticker (key)")
    name: str = Field(description="sector name")
    cohort: str | None = Field(description="business-cycle cohort, null if none")
    members: int = Field(description="constituents aggregated into the sector (0: one ETF)")


class UniverseInfo(StrictBody):
    name: str = Field(description="the name the tools' `universe` argument takes")
    universe: str = Field(description="the universe's own name")
    description: str = Field(description="what it is")
    benchmark: str = Field(description="benchmark ticker")
    sectors: list[SectorInfo]
    data_source: str = Field(description="the data actually loaded (fallbacks included)")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")
    data_through: date | None = Field(description="last session in the data")
    notes: list[str] = Field(description="fallbacks and warnings from loading the data")
    model_status: str = Field(description="'ok' or why there is no model")
    model_version: str | None = Field(description="registered version of the champion; null without one")
    macro_indicators: list[str] = Field(description="what get_macro_indicators can report for this data")
    tickers: list[str] = Field(description="what get_stock_analysis can analyse")


class UniversesResult(StrictBody):
    default: str = Field(description="the universe used when a tool's `universe` is left out")
    universes: list[UniverseInfo]
