"""The heatmap's columns, declared once: name, label, unit, group, how each is computed and tinted.

The JSON response is built from these (each sector's cells and the `columns` list); the HTML page,
the PNG and the terminal table draw that list with `display_format`; the MCP tools and news
columns to come add entries here, nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from features.config import FeatureConfig
from features.matrix import DISPLAY_DIGITS, tint
from features.momentum import MOM_12_1, RS_MOMENTUM, RS_RATIO
from features.volume import RELATIVE_VOLUME, SENTIMENT_SCORE
from serving.config import ServingConfig

PP_DIGITS = DISPLAY_DIGITS  # percentage points are reported (and tinted) at this precision
Row = Mapping[str, float]  # one sector's feature values, or its spreads (pp) per window


def rounded(x, digits: int) -> float | None:
    """Round for JSON; NaN/None -> None."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if np.isfinite(x) else None


def pct_from_log(x) -> float:
    return 100.0 * (np.exp(x) - 1.0)


@dataclass(frozen=True)
class Column:
    """One descriptive value per sector. `value(features, spreads)` gives it, rounded for JSON."""

    key: str  # where it sits in a sector's `descriptive` object; a dot nests ("rel_return_pp.1M")
    metric: str  # the request metric that shows it
    label: str
    short: str
    unit: str  # pp = percentage points
    description: str
    value: Callable[[Row, Row], float | None]
    tint_key: str | None = None  # where its bull/bear/neutral tint sits, when it has one
    tint: Callable[[float | None], str] | None = None
    listed: bool = True  # False: carried in every row but not drawn as a table column

    def header(self) -> dict:
        """The column as the response's `columns.descriptive` lists it."""
        head = {"key": self.key, "tint_key": self.tint_key} if self.tint_key else {"key": self.key}
        return {
            **head,
            "metric": self.metric,
            "label": self.label,
            "short": self.short,
            "unit": self.unit,
            "description": self.description,
        }


# unit -> (digits shown, signed): the renderers' number format, declared with the units
DISPLAY_FORMAT = {"pp": (2, True), "%": (2, True), "% ann.": (2, False), "0-1": (3, False), "% of members": (1, False)}
DISPLAY_FORMAT |= {"-1..1": (2, True), "x": (2, False)}  # news sentiment and news volume


def display_format(unit: str) -> tuple[int, bool]:
    return DISPLAY_FORMAT.get(unit, (2, False))


def _spread_of(window: str) -> Callable[[Row, Row], float | None]:
    """The value of the relative-return column of `window`: its spread, pp."""
    return lambda features, spreads: rounded(spreads[window], PP_DIGITS)


def descriptive_columns(
    metrics, timeframe: str, cfg: ServingConfig, fcfg: FeatureConfig, bench: str, members: bool = False
) -> list[Column]:
    """The descriptive columns for a request, in response order (the registry itself).

    `members`: the universe has constituents, so the breadth columns exist (a universe of ETFs has none)."""
    thr = fcfg.neutral_threshold_pp
    vol_col, volat_col = cfg.volume_for_timeframe[timeframe], cfg.volatility_for_timeframe[timeframe]
    cols: list[Column] = []
    if "performance" in metrics:
        cols += [
            Column(
                f"rel_return_pp.{w}",
                "performance",
                f"{w} rel. return",
                w,
                "pp",
                f"sector minus {bench} total return over {w} ({fcfg.return_windows[w]} sessions)",
                value=_spread_of(w),
                tint_key=f"rel_return_tint.{w}",
                tint=lambda v: tint(v, thr),
            )
            for w in cfg.descriptive_windows
        ]
    if "momentum" in metrics:
        cols += [
            Column(
                "momentum_12_1_pp",
                "momentum",
                "12-1 momentum",
                "Mom",
                "pp",
                f"log relative return vs {bench} from 12 months to 1 month ago",
                value=lambda f, s: rounded(100.0 * f.get(MOM_12_1, np.nan), PP_DIGITS),
            ),
            Column(
                "rs_ratio",
                "momentum",
                "RS-ratio",
                "RS",
                "index",
                "relative strength vs its trend, 100 = neutral",
                value=lambda f, s: rounded(f.get(RS_RATIO), 2),
                listed=False,
            ),
            Column(
                "rs_momentum",
                "momentum",
                "RS-momentum",
                "RSm",
                "index",
                "rate of change of the RS-ratio",
                value=lambda f, s: rounded(f.get(RS_MOMENTUM), 2),
                listed=False,
            ),
        ]
    if "volume_growth" in metrics:
        cols += [
            Column(
                "volume_growth_pct",
                "volume_growth",
                "Volume growth",
                "VolGr",
                "%",
                f"short vs long average volume ({vol_col})",
                value=lambda f, s: rounded(pct_from_log(f.get(vol_col, np.nan)), 2),
            ),
            Column(
                "relative_volume_pct",
                "volume_growth",
                "Relative volume",
                "RelVol",
                "%",
                "volume as a share of the benchmark's vs its own norm",
                value=lambda f, s: rounded(pct_from_log(f.get(RELATIVE_VOLUME, np.nan)), 2),
                listed=False,
            ),
        ]
    if "volatility" in metrics:
        cols.append(
            Column(
                "volatility_pct",
                "volatility",
                "Volatility",
                "Volat",
                "% ann.",
                f"annualised realised volatility ({volat_col})",
                value=lambda f, s: rounded(100.0 * f.get(volat_col, np.nan), 2),
            )
        )
    if "sentiment_score" in metrics:
        cols.append(
            Column(
                "sentiment_score",
                "sentiment_score",
                "Sentiment",
                "Sent",
                "0-1",
                "market-implied: mean of RSI and money-flow index, rescaled to 0..1",
                value=lambda f, s: rounded(f.get(SENTIMENT_SCORE), 3),
            )
        )
        cols += news_columns(fcfg)
    if "breadth" in metrics and members:
        cols += breadth_columns_for(timeframe, fcfg)
    return cols


def breadth_columns_for(timeframe: str, fcfg: FeatureConfig) -> list[Column]:
    """Breadth of a constituent universe (features/breadth.py): shares of members, in %."""
    from features.breadth import NET_HIGHS, above_sma, net_advancers

    def share(col: str) -> Callable[[Row, Row], float | None]:
        return lambda f, s: rounded(100.0 * f.get(col, np.nan), 1)

    cols = [
        Column(
            f"breadth_above_sma_pct.{w}",
            "breadth",
            f"Above {w}d avg",
            f">{w}d",
            "% of members",
            f"share of members closing above their {w}-day average",
            value=share(above_sma(w)),
        )
        for w in fcfg.trend_windows
    ]
    cols += [
        Column(
            "breadth_net_advancers_pct",
            "breadth",
            f"Net advancers {timeframe}",
            "A-D",
            "% of members",
            f"advancers minus decliners over {timeframe}, as a share of the members counted",
            value=share(net_advancers(timeframe)),
        ),
        Column(
            "breadth_net_highs_pct",
            "breadth",
            "Net 52w highs",
            "H-L",
            "% of members",
            "members at a new 52-week closing high minus those at a low, as a share of the members counted",
            value=share(NET_HIGHS),
        ),
    ]
    return cols


def news_columns(fcfg: FeatureConfig) -> list[Column]:
    """News sentiment and attention (serving/news.py puts their values in the rows; empty without a store)."""
    from serving.news import NEWS_SENTIMENT, NEWS_VOLUME

    n = fcfg.news
    return [
        Column(
            NEWS_SENTIMENT,
            "sentiment_score",
            "News sentiment",
            "News",
            "-1..1",
            f"recency-weighted mean headline score (half-life {n.half_life_days:g} d) over the last "
            f"{n.window_days:g} days, from the embedded finance sentiment scorer",
            value=lambda f, s: rounded(f.get(NEWS_SENTIMENT), 3),
        ),
        Column(
            NEWS_VOLUME,
            "sentiment_score",
            "News volume",
            "NewsVol",
            "x",
            f"attention: headlines in the last {n.attention_days:g} day(s) vs their trailing "
            f"{n.baseline_days}-day daily average (1 = usual)",
            value=lambda f, s: rounded(f.get(NEWS_VOLUME), 2),
        ),
    ]


def feature_inputs(cfg: ServingConfig) -> list[str]:
    """Every feature column the descriptive columns can read, for the start-up check."""
    return [
        MOM_12_1,
        RS_RATIO,
        RS_MOMENTUM,
        RELATIVE_VOLUME,
        SENTIMENT_SCORE,
        *cfg.volume_for_timeframe.values(),
        *cfg.volatility_for_timeframe.values(),
    ]


def descriptive_cells(columns: list[Column], features: Row, spreads: Row) -> dict:
    """One sector's `descriptive` object: every column's value (and tint) at its key."""
    out: dict = {}
    for c in columns:
        v = c.value(features, spreads)
        _put(out, c.key, v)
        if c.tint_key and c.tint:
            _put(out, c.tint_key, c.tint(v))
    return out


def _put(out: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        out = out.setdefault(p, {})
    out[leaf] = value


# ---- predicted: one column per forecast horizon ----------------------------------------------
def _rank(v) -> int | float | None:
    """1 = best; tied forecasts share the average rank (e.g. 3.5), which is shown as is."""
    v = rounded(v, 1)
    return int(v) if v is not None and v.is_integer() else v


def predicted_header(horizon: str, sessions: int, skill_sentence: str) -> dict:
    return {"horizon": horizon, "sessions": sessions, "label": f"{horizon} ahead", "skill": skill_sentence}


def predicted_cells(prediction: Row, horizons, thr: float) -> dict:
    """One sector's `predicted` object: per horizon the forecast (pp), its interval, P(outperform), rank, tint."""
    out = {}
    for h in horizons:
        pp = rounded(100.0 * prediction.get(f"pred_{h}", np.nan), PP_DIGITS)
        out[h] = {
            "expected_rel_return_pp": pp,
            "interval_pp": [
                rounded(100.0 * prediction.get(f"lower_{h}", np.nan), PP_DIGITS),
                rounded(100.0 * prediction.get(f"upper_{h}", np.nan), PP_DIGITS),
            ],
            "prob_outperform": rounded(prediction.get(f"prob_outperform_{h}", np.nan), 3),
            "rank": _rank(prediction.get(f"rank_{h}", np.nan)),
            "tint": tint(pp, thr),
        }
    return out
