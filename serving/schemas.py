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
SURVIVORSHIP_HELP = (
    "present when the universe holds today's members only: results over history carry "
    "survivorship bias (members that left it are missing)"
)


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


class LiveSkill(StrictBody):
    """The live scorecard of one horizon: forecasts the service logged, scored once their horizon passed
    (training/scorecard.py). Same metric definitions as the backtest figures beside it."""

    status: str = Field(description="'ok', or why the forecast log is busy, rebuilt or unavailable")
    n_forecasts: int | None = Field(None, description="forecasts logged for this model version and horizon")
    n_matured: int | None = Field(None, description="of them, forecasts whose horizon has passed in the data")
    n_dates_matured: int | None = Field(None, description="forecast dates with matured forecasts")
    first_date: date | None = Field(None, description="first logged forecast date")
    last_matured_date: date | None = Field(None, description="latest forecast date whose outcome is known")
    rank_ic_mean: float | None = Field(None, description="mean per-date rank IC of matured live forecasts")
    rank_ic_ci_low: float | None = Field(
        None, description="lower end of its interval (block bootstrap over dates, as the backtest)"
    )
    rank_ic_ci_high: float | None = Field(None, description="upper end of its interval")
    independent_periods: float | None = Field(
        None, description="matured dates divided by the label overlap; no interval below live_min_dates (5)"
    )
    hit_rate: float | None = Field(None, description="share of sectors called on the right side of the date's mean")
    spread_mean: float | None = Field(
        None, description="mean realised top-3 minus bottom-3 relative return (fraction, not pp)"
    )
    interval_coverage: float | None = Field(None, description="share of matured outcomes inside the logged interval")
    coverage_recent: float | None = Field(
        None, description="the same over forecasts that matured in the last window_weeks"
    )
    n_recent: int | None = Field(None, description="matured forecasts behind coverage_recent")
    window_weeks: int | None = Field(None, description="weeks of matured forecasts behind coverage_recent")
    coverage_floor: float | None = Field(None, description="coverage_recent below this raises the drift alarm")
    drift: bool | None = Field(
        None, description="drift alarm: recent coverage below the floor or the rank IC interval below zero"
    )
    drift_reasons: list[str] | None = Field(None, description="why the alarm is raised, in plain words")
    summary: str | None = Field(None, description="the live scorecard in plain words")


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
    live: LiveSkill | None = Field(
        None, description="the live scorecard of matured served forecasts, beside the backtest figures above"
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


class RefreshBlock(StrictBody):
    """The scheduled refresh as of this answer (live: not cached with it)."""

    enabled: bool = Field(description="false for data that never changes (csv, demo) or when switched off")
    last_refresh: datetime | None = Field(description="start of the last refresh attempt, UTC; null before the first")
    outcome: str = Field(description="startup | ok | failed | timeout: how the last attempt ended")
    duration_s: float | None = Field(description="seconds the last attempt took")
    last_success: datetime | None = Field(description="the last successful refresh (or the start-up load), UTC")
    next_refresh: datetime | None = Field(description="when the next refresh is due, UTC; null when none is")
    market_open: bool = Field(description="the universe's exchange is in session now")
    data_as_of: datetime | None = Field(description="when the data was last true: close or last intraday bar, UTC")
    data_age_s: float | None = Field(description="seconds since data_as_of")
    intraday: bool = Field(description="today's partial session is in the relative-return columns")
    stale: bool = Field(description="the last refresh failed: the data is older than the schedule promises")
    stale_reason: str | None = Field(description="why, when stale")


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
    news_sentiment: float | None = Field(
        None,
        description="recency-weighted mean headline sentiment, -1..1, over the news window; null without headlines "
        "(metric sentiment_score)",
    )
    news_volume: float | None = Field(
        None,
        description="attention: headlines in the last day vs their trailing daily average (1 = usual); null until "
        "the headline store has enough history (metric sentiment_score)",
    )
    breadth_above_sma_pct: dict[str, float | None] | None = Field(
        None, description="window (sessions) -> % of members above their average (metric breadth; constituents only)"
    )
    breadth_net_advancers_pct: float | None = Field(
        None, description="advancers minus decliners over the timeframe, % of members (metric breadth)"
    )
    breadth_net_highs_pct: float | None = Field(
        None, description="new 52-week closing highs minus lows, % of members (metric breadth)"
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


class Headline(StrictBody):
    title: str = Field(description="the headline")
    provider: str = Field(description="who published it")
    published: datetime = Field(description="publish time, UTC")
    url: str | None = Field(description="link to the article, when known")
    tickers: list[str] = Field(description="tickers it was fetched for or tagged with")
    label: Literal["positive", "negative", "neutral"] = Field(description="the scorer's label")
    score: float = Field(description="sentiment score in [-1, 1]: P(positive) - P(negative)")


class SectorNewsCell(StrictBody):
    """A sector's headlines behind its news columns."""

    headlines: int = Field(description="headlines within the news window")
    recent: int = Field(description="headlines within the attention window (last day)")
    top: list[Headline] = Field(description="the latest few headlines with their scores")
    sentiment_inputs: list[str] = Field(
        description="inputs the health score's sentiment component used for this sector (news_sentiment only with "
        "enough recent headlines)"
    )


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
    news: SectorNewsCell | None = Field(None, description="the sector's headlines and what the health score used")


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
    intraday: bool | None = Field(
        None, description="true when the values include today's partial session (up to intraday_last_bar)"
    )


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


class NewsInfo(StrictBody):
    read_at: datetime = Field(description="headlines published at or before this moment were read (UTC)")
    window_days: float = Field(description="news sentiment window, days")
    half_life_days: float = Field(description="recency weighting half-life, days")
    min_headlines: int = Field(description="headlines a sector needs in the window for news to enter its health score")
    note: str | None = Field(description="why news is missing or was rebuilt, when it is")


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
    news: NewsInfo | None = Field(None, description="how the news columns were read")
    intraday: bool | None = Field(
        None,
        description="true when the relative-return columns include today's partial session (marked per column); "
        "features, health score and predictions never do",
        json_schema_extra=NULLABLE,
    )
    intraday_last_bar: datetime | None = Field(
        None, description="start of the newest intraday bar used, UTC", json_schema_extra=NULLABLE
    )
    intraday_session: date | None = Field(
        None, description="the session the intraday bars belong to", json_schema_extra=NULLABLE
    )
    intraday_note: str | None = Field(None, description="what the intraday values cover", json_schema_extra=NULLABLE)
    refresh: RefreshBlock | None = Field(
        None, description="the scheduled refresh and the data's age (live)", json_schema_extra=NULLABLE
    )
    survivorship_note: str | None = Field(
        None,
        description=SURVIVORSHIP_HELP,
        json_schema_extra=NULLABLE,
    )


# ---- POST /news ---------------------------------------------------------------------------------
class NewsResponse(StrictBody):
    """POST /news: one sector's scored headlines (newest first) with its news sentiment and volume."""

    universe: str = Field(description="universe name")
    sector: str = Field(description="sector key (ETF ticker or sector name)")
    name: str = Field(description="sector name")
    read_at: datetime = Field(description="headlines published at or before this moment (UTC)")
    days: float = Field(description="headlines of the last this many days are listed")
    news_sentiment: float | None = Field(
        description="recency-weighted mean score over the news window, -1..1", json_schema_extra=NULLABLE
    )
    news_volume: float | None = Field(
        description="headlines in the last day vs their trailing daily average", json_schema_extra=NULLABLE
    )
    headline_count: int = Field(description="headlines listed")
    headlines: list[Headline] = Field(description="newest first")
    scorer: str = Field(description="what scored the headlines")
    note: str | None = Field(description="why news is missing or was rebuilt, when it is", json_schema_extra=NULLABLE)


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
    survivorship_note: str | None = Field(
        None,
        description=SURVIVORSHIP_HELP,
        json_schema_extra=NULLABLE,
    )


class MatrixResponse(Matrix):
    """POST /matrix: the descriptive rotation matrix (sector minus benchmark per window)."""

    universe: str = Field(description="universe name")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")
    refresh: RefreshBlock | None = Field(
        None, description="the scheduled refresh and the data's age (live)", json_schema_extra=NULLABLE
    )


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


# ---- POST /rotation (the rotation graph; the body is the get_sector_rotation tool's) -------------------
SessionDate = date  # (a field named `date` cannot be annotated `date`)


class RotationTailPoint(StrictBody):
    date: SessionDate = Field(description="the week's last session (the head: as_of)")
    rs_ratio: float = Field(description="RS-ratio on that date: 100 + 10 x trailing z-score of relative strength")
    rs_momentum: float = Field(description="RS-momentum on that date: 100 + 10 x trailing z-score of its change")


class RotationTail(StrictBody):
    sector: str = Field(description="sector name")
    ticker: str = Field(description="sector ticker (key)")
    quadrant: Literal["leading", "weakening", "lagging", "improving"] | None = Field(
        description="quadrant of the head (as_of); null without coordinates that day"
    )
    points: list[RotationTailPoint] = Field(description="weekly points, oldest first; the last one is as_of")


# ---- POST /sector (one sector's drill-down) ------------------------------------------------------
class SectorFigures(StrictBody):
    name: str = Field(description="sector name")
    ticker: str = Field(description="sector key (ETF ticker, or the sector name in a constituent universe)")
    cohort: str | None = Field(description="business-cycle cohort, null if none")
    listed: bool = Field(description="the sector has a price on as_of")
    return_pct: float | None = Field(description="sector total return over the timeframe, %")
    benchmark_return_pct: float | None = Field(description="benchmark total return over the timeframe, %")
    rel_return_pp: float | None = Field(description="sector minus benchmark total return over the timeframe, pp")
    above_sma: dict[str, bool | None] = Field(description="window (sessions) -> the sector closes above its average")


class ShareCount(StrictBody):
    share: float | None = Field(description="share of the counted members (0-1)")
    of: int = Field(description="members counted (priced, with a full window)")


class NetCount(StrictBody):
    up: int = Field(description="advancers (or members at a new 52-week closing high)")
    down: int = Field(description="decliners (or members at a new 52-week closing low)")
    of: int = Field(description="members counted")
    net_share: float | None = Field(description="(up - down) / of, -1..1")


class SectorBreadth(StrictBody):
    members: int = Field(description="members in the universe file")
    priced: int = Field(description="members with a price on as_of")
    above_sma: dict[str, ShareCount] = Field(description="window (sessions) -> members above their average")
    advance_decline: NetCount = Field(description="advancers vs decliners over the timeframe")
    new_highs_lows_52w: NetCount = Field(description="members at a new 52-week closing high vs low")


class Concentration(StrictBody):
    top_n: int = Field(description="how many of the largest members are summed")
    top_weight: float | None = Field(description="their weight in the sector (0-1)")
    weights: str = Field(description="which weights: static universe weights or equal weight")
    priced_members: int = Field(description="members the weights are spread over")


class MemberRow(StrictBody):
    ticker: str = Field(description="member ticker")
    weight: float | None = Field(description="weight in the sector on as_of (0-1); null when not priced")
    return_pct: float | None = Field(description="total return over the timeframe, %")
    vs_sector_pp: float | None = Field(description="return minus the sector's, pp")
    vs_benchmark_pp: float | None = Field(description="return minus the benchmark's, pp")
    contribution_pp: float | None = Field(description="weight at the window's start x return, pp of the sector")
    above_sma: dict[str, bool | None] = Field(description="window (sessions) -> above its average (null: too short)")
    new_high_52w: bool = Field(description="closed at a 52-week high on as_of")
    new_low_52w: bool = Field(description="closed at a 52-week low on as_of")


class SectorResponse(StrictBody):
    """POST /sector: one sector's move, breadth, concentration and members (constituent universes)."""

    universe: str = Field(description="universe name")
    benchmark: str = Field(description="benchmark ticker")
    data_source: str = Field(description="the data actually used (fallbacks included)")
    is_demo: bool = Field(description="true for the synthetic demo market: not real prices")
    as_of: date = Field(description="session described")
    timeframe: str = Field(description="window of the returns, advancers and contributions")
    window_sessions: int = Field(description="sessions the timeframe spans")
    sector: SectorFigures
    members_loaded: bool = Field(description="false for a universe of one series per sector (ETFs)")
    note: str = Field(description="how to read the figures, or why there are no members")
    breadth: SectorBreadth | None = Field(description="null without members", json_schema_extra=NULLABLE)
    concentration: Concentration | None = Field(description="null without members", json_schema_extra=NULLABLE)
    contribution_rule: str | None = Field(None, description="how contributions are computed")
    contribution_sum_pp: float | None = Field(None, description="sum of the members' contributions, pp")
    members: list[MemberRow] = Field(description="every member, largest contribution first; empty without members")
    top_contributors: list[str] = Field(description="tickers adding most to the sector's move, largest first")
    bottom_contributors: list[str] = Field(description="tickers taking most from it, most negative first")
    survivorship_note: str | None = Field(
        None,
        description=SURVIVORSHIP_HELP,
        json_schema_extra=NULLABLE,
    )


# ---- GET /status (the refresh schedule; serving/refresher.py status_document) --------------------------
class StatusRefresh(StrictBody):
    enabled: bool = Field(description="false for data that never changes (csv, demo) or when switched off")
    interval_min: float = Field(description="minutes between refreshes while the market is open")
    after_close_min: float = Field(description="minutes after the close of the refresh that picks up the close")
    deadline_s: float = Field(description="a refresh still running after this many seconds is abandoned")
    last_refresh: datetime | None = Field(description="start of the last refresh attempt, UTC; null before the first")
    outcome: str = Field(description="startup | ok | failed | timeout: how the last attempt ended")
    error: str | None = Field(description="why the last attempt failed, when it did")
    duration_s: float | None = Field(description="seconds the last attempt took")
    last_success: datetime | None = Field(description="the last successful refresh (or the start-up load), UTC")
    consecutive_failures: int = Field(description="failed attempts since the last success")
    next_refresh: datetime | None = Field(description="when the next refresh is due, UTC; null when none is")
    stale: bool = Field(description="the last refresh failed: the data is older than the schedule promises")
    stale_reason: str | None = Field(description="why, when stale")
    extra_steps: dict[str, str] = Field(description="extra refresh step (e.g. news) -> ok, its error, or not run yet")


class StatusUniverse(StrictBody):
    calendar: str = Field(description="exchange calendar of the universe (e.g. XNYS)")
    market_open: bool = Field(description="the exchange is in session now")
    session: date | None = Field(description="the session now is in (open), else the next one")
    opens_at: datetime | None = Field(description="that session's open, UTC")
    closes_at: datetime | None = Field(description="that session's close, UTC")
    data_through: date | None = Field(description="last session in the data")
    data_as_of: datetime | None = Field(description="when the data was last true: close or last intraday bar, UTC")
    data_age_s: float | None = Field(description="seconds since data_as_of")
    intraday: bool = Field(description="today's partial session is in the relative-return columns")
    intraday_last_bar: datetime | None = Field(description="start of the newest intraday bar used, UTC")
    data_source: str = Field(description="the data actually used (fallbacks included)")


class StatusResponse(StrictBody):
    """GET /status: the refresh schedule and its last outcome, then the data age per universe."""

    now: datetime = Field(description="the server's clock, UTC")
    clock: str = Field(description="which clock the schedule runs on (the market data source's)")
    refresh: StatusRefresh
    generation: int = Field(description="load generation, bumped by every (re)load and refresh swap")
    universes: dict[str, StatusUniverse] = Field(description="loaded universe name -> its exchange and data age")
    not_loaded: dict[str, str] = Field(description="configured universe that could not be loaded -> why")
