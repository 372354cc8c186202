"""Typed shapes of the JSON bodies the service returns, for the OpenAPI schema and for clients.

Declarative only: the service still builds plain dicts (serving/heatmap.py, features/matrix.py,
serving/service.py) and answers with pre-serialised bytes; these models describe those dicts.
Every model forbids unknown keys, so a key added to a response but not here fails the schema
tests (tests/serving/test_schemas.py). NaN is sent as null, hence the many `| None`.

Units: pp = percentage points (sector minus benchmark return, in %); % = percent.
Keys that depend on the requested metrics are optional: absent when that metric was not asked for.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Tint = Literal["bull", "bear", "neutral", "n/a"]
TINT_HELP = "bull / bear by the sign of the displayed spread, neutral below the neutral threshold, n/a when missing"
# BentoML inlines an output model's own properties into the path's OpenAPI response schema and keeps only
# the first branch of an anyOf there (_bentoml_sdk/method.py, _flatten_field), i.e. it drops the null of
# `X | None`; OpenAPI 3.0's `nullable` survives. Needed on the top-level nullable fields of the models used
# as output specs; nested models are referenced as components, which keep their anyOf.
NULLABLE: dict = {"nullable": True}  # as json_schema_extra


class StrictBody(BaseModel):
    """A response body: an unknown key is an error, so a key added to an answer but not here fails the tests."""

    model_config = ConfigDict(extra="forbid")


# ---- shared pieces ------------------------------------------------------------------------------
class Leadership(StrictBody):
    leader: str = Field(
        description="the leading cohort (e.g. early_cycle, late_cycle, defensive) or 'mixed'; "
        "a heuristic, see leadership_rule"
    )
    cohort_mean_spread_pp: dict[str, float] = Field(
        description="cohort -> mean relative return of its sectors over the window, pp"
    )


class HorizonSkill(StrictBody):
    """Out-of-sample skill of one forecast horizon (walk-forward test); intervals matter, not point estimates."""

    rank_ic_mean: float | None = Field(
        None, description="mean cross-sectional rank IC (Spearman) of forecast vs outcome"
    )
    rank_ic_ci_low: float | None = Field(
        None, description="lower end of the rank IC confidence interval (block bootstrap)"
    )
    rank_ic_ci_high: float | None = Field(None, description="upper end of the rank IC confidence interval")
    t_stat: float | None = Field(None, description="t statistic of the mean rank IC")
    spread_mean: float | None = Field(
        None, description="mean top-minus-bottom realised return spread (fraction, not pp)"
    )
    interval_coverage: float | None = Field(None, description="share of outcomes inside the forecast interval (0-1)")
    n_dates: float | None = Field(None, description="test dates scored")
    independent_periods: float | None = Field(
        None, description="test dates divided by the label overlap: non-overlapping periods behind the estimate"
    )
    significant: bool | None = Field(None, description="interval above zero with enough independent periods")
    model: str | None = Field(None, description="the model family kept for this horizon (nested walk-forward)")
    shrink: float | None = Field(
        None, description="share of the forecast shown (0 = no demonstrated skill: forecasts sit at the average)"
    )
    summary: str = Field(
        description="the skill in plain words, e.g. '1M rank IC 0.03 [-0.01, 0.07]: not distinguishable from zero'"
    )


class ModelCard(StrictBody):
    """The champion model: identity, training window and out-of-sample skill per horizon."""

    name: str | None = Field(description="registered model name (null only for a champion without a registry card)")
    version: str | None = Field(description="registered model version")
    run_id: str | None = Field(description="MLflow run that trained it")
    trained_at: str | None = Field(description="training start, ISO 8601 with UTC offset")
    training_window: tuple[str, str] | None = Field(description="first and last training date, YYYY-MM-DD")
    data_source: str | None = Field(description="the data the model was trained on")
    interval_coverage: float = Field(description="nominal coverage of the forecast intervals (0-1), e.g. 0.8")
    horizons: dict[str, int] = Field(description="horizon (e.g. 1W, 1M, 3M) -> sessions ahead")
    skill: dict[str, HorizonSkill] = Field(description="horizon -> out-of-sample skill")


class Freshness(StrictBody):
    data_through: date = Field(description="last session in the data")
    expected_session: date = Field(
        description="last session that should be in the data by now (today's close excluded)"
    )
    sessions_behind: int = Field(description="exchange sessions between data_through and expected_session")
    stale_sessions: int = Field(description="sessions_behind at which the data counts as stale")
    stale: bool = Field(description="sessions_behind >= stale_sessions")


# ---- POST /heatmap ------------------------------------------------------------------------------
class DescriptiveCells(StrictBody):
    """What happened (not a forecast); each group is present only when its metric was requested."""

    rel_return_pp: dict[str, float | None] | None = Field(
        None, description="window (1D..12M) -> sector minus benchmark total return, pp (metric performance)"
    )
    rel_return_tint: dict[str, Tint] | None = Field(None, description=f"window -> tint of rel_return_pp: {TINT_HELP}")
    momentum_12_1_pp: float | None = Field(
        None, description="log relative return vs the benchmark from 12 to 1 months ago, x100 (metric momentum)"
    )
    rs_ratio: float | None = Field(
        None, description="RRG-style relative-strength ratio: 100 + 10 x z-score, 100 = its norm"
    )
    rs_momentum: float | None = Field(
        None, description="RRG-style momentum of rs_ratio: 100 + 10 x z-score, above 100 = improving"
    )
    volume_growth_pct: float | None = Field(
        None, description="short vs long average volume, % change (metric volume_growth)"
    )
    relative_volume_pct: float | None = Field(
        None, description="sector volume as a share of the benchmark's, short vs long average, % change"
    )
    volatility_pct: float | None = Field(None, description="annualised realised volatility, % (metric volatility)")
    sentiment_score: float | None = Field(
        None, description="market-implied sentiment 0-1: mean of RSI and money-flow index (metric sentiment_score)"
    )


class PredictedCell(StrictBody):
    """The champion's forecast for one horizon: relative to the benchmark, not absolute."""

    expected_rel_return_pp: float | None = Field(
        description="expected sector minus benchmark return over the horizon, pp"
    )
    interval_pp: tuple[float | None, float | None] = Field(
        description="[lower, upper] forecast interval, pp, at the model's interval_coverage"
    )
    prob_outperform: float | None = Field(description="probability of beating the benchmark over the horizon (0-1)")
    rank: int | float | None = Field(
        description="1 = best expected return that date; ties share the average rank (e.g. 3.5)"
    )
    tint: Tint = Field(description=f"tint of expected_rel_return_pp: {TINT_HELP}")


class SectorRow(StrictBody):
    name: str = Field(description="sector name")
    ticker: str = Field(description="sector ETF ticker (the sector key)")
    cohort: str | None = Field(description="business-cycle cohort (early_cycle, late_cycle, defensive), null if none")
    descriptive: DescriptiveCells
    predicted: dict[str, PredictedCell] | None = Field(
        description="horizon -> forecast; null without a usable model or when 'predicted' was not requested"
    )
    health_score: float | None = Field(
        description="0-100 health score (100 = strongest on every component that date); "
        "null when the sector has no component"
    )
    health_components: dict[str, float | None] = Field(
        description="component -> 0-100 cross-sectional percentile score; null when its inputs are missing"
    )
    health_weights: dict[str, float | None] = Field(
        description="component -> effective weight in health_score (sums to 1 over the available components)"
    )
    color: str = Field(description="hex colour of health_score on color_scale (grey when null)", examples=["#7bb769"])


class ColumnInfo(StrictBody):
    """How to show one descriptive column: where its values are in SectorRow.descriptive and what they mean."""

    key: str = Field(
        description="path of the value in SectorRow.descriptive, dotted for a window, e.g. 'rel_return_pp.1M'"
    )
    tint_key: str | None = Field(None, description="path of the cell's tint (performance columns only)")
    metric: str = Field(description="the requested metric this column belongs to")
    label: str = Field(description="column title")
    short: str = Field(description="short column title")
    unit: str = Field(description="unit of the values: pp, %, % ann., 0-1")
    description: str = Field(description="what the column measures")


class PredictedColumn(StrictBody):
    horizon: str = Field(description="forecast horizon, key of SectorRow.predicted")
    sessions: int = Field(description="sessions ahead")
    label: str = Field(description="column title")
    skill: str = Field(description="the model's out-of-sample skill at this horizon, in plain words")


class Columns(StrictBody):
    descriptive: list[ColumnInfo] = Field(description="descriptive columns in display order")
    predicted: list[PredictedColumn] = Field(description="predicted columns; empty without predictions")


class HealthBlock(StrictBody):
    """Everything needed to recompute a health score from the response."""

    formula: str = Field(description="the health score formula in words")
    components: dict[str, list[str]] = Field(
        description="component -> its inputs (feature columns, spread_<window>, pred)"
    )
    base_weights: dict[str, float] = Field(description="configured component weights")
    weights: dict[str, float] = Field(description="weights after the skill factor, normalised to sum to 1")
    predicted_horizon: str = Field(description="forecast horizon that feeds the predicted component")
    skill_factor: float = Field(description="0-1 share of the predicted base weight the model earned by its skill")
    predicted_note: str = Field(description="why the predicted component has its weight")
    scale: str = Field(description="how to read a score")
    color_scale: list[tuple[float, str]] = Field(description="[score, hex colour] stops of the colour scale")


class HeatmapResponse(StrictBody):
    """POST /heatmap: per sector, descriptive and predicted columns, health score and colour."""

    schema_version: str = Field(description="version of this response shape", examples=["1.0"])
    timestamp: datetime = Field(description="when the answer was built, UTC")
    as_of: date = Field(description="session the heatmap describes (the last one on or before requested_as_of)")
    requested_as_of: date | None = Field(
        description="as_of as requested; null for the latest session", json_schema_extra=NULLABLE
    )
    data_through: date = Field(description="last session in the data")
    data_source: str = Field(description="the data actually used (fallbacks included)")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")
    stale: bool = Field(description="the data is stale (see freshness)")
    freshness: Freshness
    universe: str = Field(description="universe name")
    benchmark: str = Field(description="benchmark ticker the relative returns are measured against")
    timeframe: str = Field(description="requested timeframe (1D, 1W, 1M, 3M)")
    metrics: list[str] = Field(description="metrics included, in order")
    neutral_threshold_pp: float = Field(description="a spread below this many pp (in absolute value) is neutral")
    model_status: str = Field(description="'ok' or why predictions are unavailable")
    model: ModelCard | None = Field(
        description="the champion that made the predictions; null without predictions", json_schema_extra=NULLABLE
    )
    columns: Columns
    health: HealthBlock
    sectors: list[SectorRow] = Field(description="sectors listed on as_of, best health score first")
    not_listed: list[str] = Field(description="tickers of the universe with no data on as_of")
    leadership: dict[str, Leadership] = Field(description="window -> which cohort leads")
    leadership_rule: str = Field(description="how the leader is chosen (a heuristic)")
    market_context: str = Field(
        description="one sentence: benchmark move, leading cohort, strongest and weakest sector"
    )


# ---- POST /matrix -------------------------------------------------------------------------------
class MatrixRow(StrictBody):
    sector: str = Field(description="sector name")
    ticker: str = Field(description="sector ETF ticker")
    spread_pp: dict[str, float | None] = Field(description="window -> sector minus benchmark total return, pp")
    tint: dict[str, Tint] = Field(description=f"window -> tint of spread_pp: {TINT_HELP}")


class Matrix(StrictBody):
    """The rotation matrix as `sector-heatmap matrix --format json` prints it (the CLI has no universe/is_demo)."""

    data_source: str = Field(description="the data actually used (fallbacks included)")
    as_of: date = Field(description="session the matrix describes")
    benchmark: str = Field(description="benchmark ticker")
    windows_sessions: dict[str, int] = Field(description="window -> sessions it spans")
    neutral_threshold_pp: float = Field(description="a spread below this many pp (in absolute value) is neutral")
    order: str = Field(description="row order")
    rows: list[MatrixRow]
    leadership: dict[str, Leadership] = Field(description="window -> which cohort leads")
    leadership_rule: str = Field(description="how the leader is chosen (a heuristic)")
    note: str = Field(description="disclaimer: descriptive, not predictive")


class MatrixResponse(Matrix):
    """POST /matrix: the descriptive rotation matrix (sector minus benchmark per window)."""

    universe: str = Field(description="universe name")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")


# ---- POST /model, GET /model --------------------------------------------------------------------
class ModelInfoResponse(StrictBody):
    universe: str = Field(description="universe name")
    model_status: str = Field(description="'ok' or why there is no model")
    model: ModelCard | None = Field(description="the champion's card; null without a model", json_schema_extra=NULLABLE)
    data_source: str = Field(description="the data the server serves")


# ---- POST /reload -------------------------------------------------------------------------------
class UniverseSummary(StrictBody):
    universe: str = Field(description="universe name")
    data_source: str = Field(description="the data actually used (fallbacks included)")
    is_demo: bool = Field(description="true for the synthetic demo market")
    data_through: date | None = Field(description="last session in the data")
    notes: list[str] = Field(description="fallbacks and warnings from loading the data")
    model_status: str = Field(description="'ok' or why there is no model")
    model_version: str | None = Field(description="registered version of the champion; null without one")


class ServiceStatus(StrictBody):
    generation: int = Field(description="load generation, bumped by every (re)load")
    load_seconds: float = Field(description="seconds the last load took")
    universes: dict[str, UniverseSummary] = Field(description="configured universe name -> what is loaded")


class ReloadResponse(StrictBody):
    """POST /reload, 200: the new state is serving (the response cache was cleared)."""

    reloaded: Literal[True] = Field(description="always true here (a failed reload is a 503 ReloadFailure)")
    seconds: float = Field(description="seconds the reload took")
    generation: int = Field(description="load generation, bumped by every (re)load")
    load_seconds: float = Field(description="seconds loading the new state took")
    universes: dict[str, UniverseSummary] = Field(description="configured universe name -> what is loaded")


class ReloadFailure(StrictBody):
    """POST /reload, 503: loading failed; the old state keeps serving."""

    reloaded: Literal[False] = Field(description="always false here")
    error: str = Field(description="why the reload failed")
    serving: ServiceStatus = Field(description="the state still being served")


# ---- POST /ping ---------------------------------------------------------------------------------
class PingResponse(StrictBody):
    ok: Literal[True] = Field(description="always true")


# ---- every error (4xx and 5xx) of every endpoint ----------------------------------------------------
class ErrorDetail(StrictBody):
    code: str = Field(
        description="kind of error, one per HTTP status: bad_request (400), unauthorized (401), forbidden (403), "
        "not_found (404), method_not_allowed (405), payload_too_large (413), unsupported_media_type (415), "
        "internal_error (500), unavailable (503), timeout (504)",
        examples=["bad_request"],
    )
    message: str = Field(
        description="what is wrong, in one sentence; starts with the field's name when one field is at fault "
        "and quotes at most a short excerpt (40 characters) of a bad value",
        examples=["as_of: expected a date YYYY-MM-DD from 1900-01-01 to today, got '-1'"],
    )
    field: str | None = Field(
        None,
        description="the request field (body key or query parameter) at fault; absent when the request as a whole is",
        examples=["as_of"],
    )


class ErrorResponse(StrictBody):
    """The body of every 4xx and 5xx answer, on every endpoint and route (a failed /reload is a ReloadFailure)."""

    error: ErrorDetail
