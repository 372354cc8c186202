"""The heatmap response (what `POST /heatmap` returns): pure, framework-free, called per request.

Inputs are prebuilt (panels and the feature table, built once per data refresh); this only
slices one date, runs the champion on 11 rows and assembles JSON-ready values. Descriptive
columns (what happened) and predicted columns (what the model expects) stay in separate,
labelled groups; the health score is returned with its components, weights and formula.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from features.dataset import MarketDataset
from features.errors import DataError, RequestError
from features.matrix import LEADERSHIP_RULE, RotationMatrix, rotation_matrix
from features.volume import RELATIVE_VOLUME
from serving.columns import (
    descriptive_cells,
    descriptive_columns,
    predicted_cells,
    predicted_header,
    rounded,
)
from serving.config import SCHEMA_VERSION, ServingConfig
from serving.freshness import freshness
from serving.health_score import (
    FORMULA,
    HealthResult,
    base_weights,
    fmt_num,
    health_scores,
    score_color,
    skill_factor,
    skill_sentence,
)
from serving.http_errors import excerpt
from serving.request import HeatmapRequest

DERIVED_INPUTS = ("pred", "relative_volume_signed")  # plus spread_<window>; everything else is a feature column
CARD_KEYS = ("name", "version", "run_id", "trained_at", "training_window", "data_source")


def _plain(obj):
    """Numpy scalars, tuples and NaN from a model card -> plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return obj


def _rows_on(table: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The feature rows of the sectors listed on `day` (indexed by sector)."""
    try:
        return table.xs(day, level="date")
    except KeyError:
        dates = table.index.get_level_values("date")
        if len(dates) and day < dates.min():
            raise RequestError(
                f"as_of: no sector has data on or before {day.date()} (the first sector data is {dates.min().date()})"
            ) from None
        raise DataError(f"the feature table has no rows for {day.date()}; rebuild it from the same panels") from None


def _predict(champion, rows: pd.DataFrame, status: str) -> tuple[pd.DataFrame | None, str]:
    """Champion predictions for one date's rows; any failure degrades to descriptive-only."""
    if champion is None:
        return None, status
    try:
        return champion.forecaster.predict(rows), status
    except Exception as exc:
        return None, f"unavailable: prediction failed ({type(exc).__name__}: {exc})"


def _health_inputs(
    rows: pd.DataFrame, spreads: pd.DataFrame, preds: pd.DataFrame | None, horizon: str, cfg: ServingConfig
) -> pd.DataFrame:
    """Sector x input values for the health components (derived inputs computed here)."""
    needed = dict.fromkeys(c for cols in cfg.health_components.values() for c in cols)
    spreads = spreads.reindex(rows.index)
    nan = np.full(len(rows), np.nan)
    out = {}
    for name in needed:
        if name.startswith("spread_"):
            out[name] = spreads[name.removeprefix("spread_")].to_numpy()
        elif name == "relative_volume_signed":
            direction = np.sign(spreads[cfg.volume_confirm_window].to_numpy())
            out[name] = rows[RELATIVE_VOLUME].to_numpy() * direction
        elif name == "pred":
            col = f"pred_{horizon}"
            out[name] = preds[col].to_numpy() if preds is not None and col in preds else nan
        else:  # a feature column: checked at start-up (ServingConfig.feature_inputs)
            out[name] = rows[name].to_numpy()
    return pd.DataFrame(out, index=rows.index)


def model_card(champion) -> dict | None:
    """The champion's card as plain JSON (name, version, window, out-of-sample skill), or None."""
    if champion is None:
        return None
    card = champion.card or {}
    fc = champion.forecaster
    skill = card.get("skill") or {h: hm.skill for h, hm in fc.horizons.items()}
    return _plain(
        {
            **{k: card.get(k) for k in CARD_KEYS},
            "interval_coverage": fc.coverage,
            "horizons": {h: hm.sessions for h, hm in fc.horizons.items()},
            "skill": {h: {**(skill.get(h) or {}), "summary": skill_sentence(h, skill.get(h))} for h in fc.horizons},
        }
    )


def _market_context(
    close: pd.Series,
    bench: str,
    timeframe: str,
    sessions_n: int,
    spreads: pd.Series,
    lead: dict,
    names: dict,
    day: pd.Timestamp,
) -> str:
    """One sentence from the data: the benchmark's move, the leading cohort, strongest and weakest."""
    parts = []
    if len(close) > sessions_n and close.iloc[-1 - sessions_n] > 0:
        move = 100.0 * (close.iloc[-1] / close.iloc[-1 - sessions_n] - 1.0)
        parts.append(f"{bench} {'rose' if move >= 0 else 'fell'} {abs(move):.1f}% over {timeframe} to {day.date()}")
    leader = lead.get("leader", "mixed")
    if leader != "mixed":
        mean = lead["cohort_mean_spread_pp"][leader]
        parts.append(f"{leader.replace('_', '-')} sectors lead (mean spread {fmt_num(mean, 1, signed=True)} pp)")
    else:
        parts.append("no cohort leads clearly (mixed)")
    s = spreads.dropna()
    if len(s):
        hi, lo = s.idxmax(), s.idxmin()
        parts.append(
            f"strongest {names.get(hi, hi)} ({fmt_num(s[hi], 1, signed=True)} pp), "
            f"weakest {names.get(lo, lo)} ({fmt_num(s[lo], 1, signed=True)} pp)"
        )
    return "; ".join(parts) + "."


def _health_block(cfg: ServingConfig, weights: dict, factor: float, horizon: str, card: dict | None) -> dict:
    """Everything needed to recompute a score from the response: formula, inputs, weights, skill factor."""
    if card is None:
        note = "no model: predicted weight 0, descriptive weights renormalised"
    elif horizon not in card["horizons"]:
        note = f"the model has no {horizon} horizon: predicted weight 0"
    else:
        note = f"{card['skill'][horizon]['summary']} -> predicted weight {weights['predicted']:.3f}"
    return {
        "formula": FORMULA,
        "components": {k: list(v) for k, v in cfg.health_components.items()},
        "base_weights": dict(cfg.health_weights),
        "weights": {k: round(v, 4) for k, v in weights.items()},
        "predicted_horizon": horizon,
        "skill_factor": round(factor, 4),
        "predicted_note": note,
        "scale": "0 = weakest on every component that date, 100 = strongest",
        "color_scale": [[stop, color] for stop, color in cfg.color_stops],
    }


@dataclass(frozen=True)
class HeatmapFrame:
    """Everything a heatmap answer is computed from, before it is written as JSON."""

    ds: MarketDataset
    req: HeatmapRequest
    cfg: ServingConfig
    now: pd.Timestamp
    pos: int  # the session answered (position in the panels' dates)
    matrix: RotationMatrix
    rows: pd.DataFrame  # feature rows of the sectors listed that day
    preds: pd.DataFrame | None  # the champion's predictions for those rows (None: descriptive only)
    model_status: str
    card: dict | None
    horizon: str  # the forecast horizon that answers the timeframe
    factor: float  # skill factor of the predicted health component
    weights: dict[str, float]
    health: HealthResult

    @property
    def day(self) -> pd.Timestamp:
        return self.ds.panels.dates[self.pos]


def compute_heatmap(
    ds: MarketDataset,
    req: HeatmapRequest,
    champion=None,
    model_status: str | None = None,
    cfg: ServingConfig | None = None,
    now=None,
) -> HeatmapFrame:
    """The numbers of one heatmap answer (no formatting). Raises RequestError naming a bad request field."""
    cfg = cfg or ServingConfig()
    now = pd.Timestamp.now("UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    req = req.check(cfg, today=now.tz_localize(None))
    uni, panels, fcfg = ds.universe, ds.panels, ds.config
    if req.market_index is not None and req.market_index != uni.benchmark:
        raise RequestError(
            f"market_index: {excerpt(req.market_index)} is not the benchmark of universe {uni.name!r} "
            f"({uni.benchmark}); leave it out or use {uni.benchmark}"
        )
    pos = panels.session_at(req.as_of)
    day = panels.dates[pos]
    windows = {w: fcfg.return_windows[w] for w in cfg.spread_windows}
    mx = rotation_matrix(panels, uni, day, replace(fcfg, matrix_windows=windows))
    rows = _rows_on(ds.features, day)
    if model_status is None:
        model_status = "ok" if champion is not None else "unavailable: no model loaded"
    preds, model_status = _predict(champion, rows, model_status)
    horizon = cfg.horizon_for_timeframe[req.timeframe]
    card = model_card(champion) if preds is not None else None
    h_skill = (card or {}).get("skill", {}).get(horizon)
    factor = skill_factor(h_skill, cfg.full_skill_rank_ic) if card and horizon in card["horizons"] else 0.0
    weights = base_weights(cfg.health_weights, factor)
    health = health_scores(_health_inputs(rows, mx.spreads_pp, preds, horizon, cfg), cfg.health_components, weights)
    return HeatmapFrame(ds, req, cfg, now, pos, mx, rows, preds, model_status, card, horizon, factor, weights, health)


def heatmap_response(f: HeatmapFrame) -> dict:
    """The JSON body of POST /heatmap for a computed frame (see serving.schemas.HeatmapResponse)."""
    ds, req, cfg, card = f.ds, f.req, f.cfg, f.card
    uni, panels, fcfg = ds.universe, ds.panels, ds.config
    thr = fcfg.neutral_threshold_pp
    day = f.day
    show_pred = f.preds is not None and "predicted" in req.metrics
    horizons = list(card["horizons"]) if card else []
    columns = descriptive_columns(req.metrics, req.timeframe, cfg, fcfg, uni.benchmark, uni.is_constituent_based)
    sectors = []
    # plain dicts: per-row pandas lookups would cost more than everything else here
    feat, spread = f.rows.to_dict("index"), f.matrix.spreads_pp.to_dict("index")
    pred = f.preds.to_dict("index") if show_pred and f.preds is not None else {}
    hr = f.health
    comps, wts, scores = hr.components.to_dict("index"), hr.weights.to_dict("index"), hr.scores.to_dict()
    for key in f.rows.index:
        score = scores[key]
        sectors.append(
            {
                "name": panels.names.get(key, key),
                "ticker": key,
                "cohort": uni.cohort_of(key),
                "descriptive": descriptive_cells(columns, feat[key], spread[key]),
                "predicted": predicted_cells(pred[key], horizons, thr) if show_pred else None,
                "health_score": rounded(score, 1),
                "health_components": {k: rounded(v, 2) for k, v in comps[key].items()},
                "health_weights": {k: rounded(v, 4) for k, v in wts[key].items()},
                "color": score_color(score, cfg.color_stops),
            }
        )
    sectors.sort(key=lambda s: (s["health_score"] is None, -(s["health_score"] or 0.0), s["ticker"]))
    fresh = freshness(panels.dates[-1], uni.calendar, f.now, cfg.stale_sessions)
    mx = f.matrix
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": f.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "as_of": day.date().isoformat(),
        "requested_as_of": req.as_of.date().isoformat() if req.as_of is not None else None,
        "data_through": fresh["data_through"],
        "data_source": ds.source.label,
        "is_demo": ds.source.synthetic,
        "stale": fresh["stale"],
        "freshness": fresh,
        "universe": uni.name,
        "benchmark": uni.benchmark,
        "timeframe": req.timeframe,
        "metrics": list(req.metrics),
        "neutral_threshold_pp": thr,
        "model_status": f.model_status,
        "model": card,
        "columns": {
            "descriptive": [c.header() for c in columns if c.listed],
            "predicted": [predicted_header(h, card["horizons"][h], card["skill"][h]["summary"]) for h in horizons]
            if show_pred and card
            else [],
        },
        "health": _health_block(cfg, f.weights, f.factor, f.horizon, card),
        "sectors": sectors,
        "not_listed": [k for k in panels.sectors if k not in f.rows.index],
        "leadership": {w: mx.leadership[w] for w in cfg.descriptive_windows},
        "leadership_rule": LEADERSHIP_RULE,
        "market_context": _market_context(
            panels.benchmark["close"].iloc[: f.pos + 1],
            uni.benchmark,
            req.timeframe,
            fcfg.return_windows[req.timeframe],
            mx.spreads_pp[req.timeframe],
            mx.leadership[req.timeframe],
            panels.names,
            day,
        ),
        **survivorship(ds),
    }


def survivorship(ds: MarketDataset) -> dict:
    """The survivorship-bias note of a universe of today's members only (issue 12), as the key every answer over
    history carries (heatmap, matrix, rotation, sector; serving.schemas), or {} for a universe without the bias."""
    note = ds.universe.survivorship_note
    return {"survivorship_note": note} if note else {}


def build_heatmap(
    ds: MarketDataset,
    req: HeatmapRequest,
    champion=None,
    model_status: str | None = None,
    cfg: ServingConfig | None = None,
    now=None,
) -> dict:
    """The heatmap for one request: compute, then write as JSON.

    `champion` is a training.registry.ChampionModel or None (descriptive only, never an error);
    `model_status` is what the registry said (default: "ok" / "unavailable: no model loaded").
    `now` (UTC) is injectable so freshness is testable.
    """
    return heatmap_response(compute_heatmap(ds, req, champion, model_status, cfg, now))
