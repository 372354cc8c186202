"""The heatmap response (what `POST /heatmap` returns): pure, framework-free, called per request.

Inputs are prebuilt (panels and the feature table, built once per data refresh); this only
slices one date, runs the champion on 11 rows and assembles JSON-ready values. Descriptive
columns (what happened) and predicted columns (what the model expects) stay in separate,
labelled groups; the health score is returned with its components, weights and formula.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.matrix import DISPLAY_DIGITS, LEADERSHIP_RULE, rotation_matrix, tint
from features.pipeline import LoadedMarket
from serving.config import SCHEMA_VERSION, ServingConfig
from serving.freshness import freshness
from serving.health import FORMULA, base_weights, fmt_num, health_scores, score_color, skill_factor, skill_summary
from serving.request import HeatmapRequest

DERIVED_INPUTS = ("pred", "relative_volume_signed")  # plus spread_<window>; everything else is a feature column
PP_DIGITS = DISPLAY_DIGITS  # percentage points are reported (and tinted) at this precision
CARD_KEYS = ("name", "version", "run_id", "trained_at", "training_window", "data_source")


def _r(x, digits: int):
    """Round for JSON; NaN/None -> None."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if np.isfinite(x) else None


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


def _pct_from_log(x) -> float:
    return 100.0 * (np.exp(x) - 1.0)


def _rows_on(table: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    """The feature rows of the sectors listed on `day` (indexed by sector)."""
    try:
        return table.xs(day, level="date")
    except KeyError:
        dates = table.index.get_level_values("date")
        if len(dates) and day < dates.min():
            raise ValueError(f"as_of: no sector has data on or before {day.date()} "
                             f"(the first sector data is {dates.min().date()})") from None
        raise RuntimeError(f"the feature table has no rows for {day.date()}; rebuild it from the same panels") from None


def _predict(champion, rows: pd.DataFrame, status: str) -> tuple[pd.DataFrame | None, str]:
    """Champion predictions for one date's rows; any failure degrades to descriptive-only."""
    if champion is None:
        return None, status
    try:
        return champion.forecaster.predict(rows), status
    except Exception as exc:  # noqa: BLE001 - a broken model must never break the heatmap
        return None, f"unavailable: prediction failed ({type(exc).__name__}: {exc})"


def _health_inputs(rows: pd.DataFrame, spreads: pd.DataFrame, preds: pd.DataFrame | None, horizon: str,
                   cfg: ServingConfig) -> pd.DataFrame:
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
            out[name] = rows["relative_volume"].to_numpy() * direction
        elif name == "pred":
            col = f"pred_{horizon}"
            out[name] = preds[col].to_numpy() if preds is not None and col in preds else nan
        elif name in rows.columns:
            out[name] = rows[name].to_numpy()
        else:
            raise ValueError(f"serving config: health input {name!r} is neither a feature column nor one of "
                             f"{DERIVED_INPUTS} / spread_<window>")
    return pd.DataFrame(out, index=rows.index)


def _descriptive(row: dict, sp: dict, metrics, timeframe: str, cfg: ServingConfig, thr: float) -> dict:
    """One sector's descriptive cells from its feature row and its spreads (pp) per window."""
    out: dict = {}
    if "performance" in metrics:
        out["rel_return_pp"] = {w: _r(sp[w], PP_DIGITS) for w in cfg.descriptive_windows}
        out["rel_return_tint"] = {w: tint(v, thr) for w, v in out["rel_return_pp"].items()}
    if "momentum" in metrics:
        out["momentum_12_1_pp"] = _r(100.0 * row.get("mom_12_1", np.nan), PP_DIGITS)
        out["rs_ratio"] = _r(row.get("rs_ratio"), 2)
        out["rs_momentum"] = _r(row.get("rs_momentum"), 2)
    if "volume_growth" in metrics:
        out["volume_growth_pct"] = _r(_pct_from_log(row.get(cfg.volume_for_timeframe[timeframe], np.nan)), 2)
        out["relative_volume_pct"] = _r(_pct_from_log(row.get("relative_volume", np.nan)), 2)
    if "volatility" in metrics:
        out["volatility_pct"] = _r(100.0 * row.get(cfg.volatility_for_timeframe[timeframe], np.nan), 2)
    if "sentiment_score" in metrics:
        out["sentiment_score"] = _r(row.get("sentiment_score"), 3)
    return out


def _descriptive_columns(metrics, timeframe: str, cfg: ServingConfig, fcfg: FeatureConfig, bench: str) -> list[dict]:
    cols = []
    if "performance" in metrics:
        cols += [{"key": f"rel_return_pp.{w}", "tint_key": f"rel_return_tint.{w}", "metric": "performance",
                  "label": f"{w} rel. return", "short": w, "unit": "pp",
                  "description": f"sector minus {bench} total return over {w} ({fcfg.return_windows[w]} sessions)"}
                 for w in cfg.descriptive_windows]
    if "momentum" in metrics:
        cols.append({"key": "momentum_12_1_pp", "metric": "momentum", "label": "12-1 momentum", "short": "Mom", "unit": "pp",
                     "description": f"log relative return vs {bench} from 12 months to 1 month ago"})
    if "volume_growth" in metrics:
        cols.append({"key": "volume_growth_pct", "metric": "volume_growth", "label": "Volume growth", "short": "VolGr", "unit": "%",
                     "description": f"short vs long average volume ({cfg.volume_for_timeframe[timeframe]})"})
    if "volatility" in metrics:
        cols.append({"key": "volatility_pct", "metric": "volatility", "label": "Volatility", "short": "Volat", "unit": "% ann.",
                     "description": f"annualised realised volatility ({cfg.volatility_for_timeframe[timeframe]})"})
    if "sentiment_score" in metrics:
        cols.append({"key": "sentiment_score", "metric": "sentiment_score", "label": "Sentiment", "short": "Sent", "unit": "0-1",
                     "description": "market-implied: mean of RSI and money-flow index, rescaled to 0..1"})
    return cols


def _rank(v) -> int | float | None:
    """1 = best; tied forecasts share the average rank (e.g. 3.5), which is shown as is."""
    v = _r(v, 1)
    return int(v) if v is not None and v.is_integer() else v


def _predicted(row: dict, horizons, thr: float) -> dict:
    out = {}
    for h in horizons:
        pp = _r(100.0 * row.get(f"pred_{h}", np.nan), PP_DIGITS)
        out[h] = {
            "expected_rel_return_pp": pp,
            "interval_pp": [_r(100.0 * row.get(f"lower_{h}", np.nan), PP_DIGITS),
                            _r(100.0 * row.get(f"upper_{h}", np.nan), PP_DIGITS)],
            "prob_outperform": _r(row.get(f"prob_outperform_{h}", np.nan), 3),
            "rank": _rank(row.get(f"rank_{h}", np.nan)),
            "tint": tint(pp, thr),
        }
    return out


def model_card(champion) -> dict | None:
    """The champion's card as plain JSON (name, version, window, out-of-sample skill), or None."""
    if champion is None:
        return None
    card = champion.card or {}
    fc = champion.forecaster
    skill = card.get("skill") or {h: hm.skill for h, hm in fc.horizons.items()}
    return _plain({
        **{k: card.get(k) for k in CARD_KEYS},
        "interval_coverage": fc.coverage,
        "horizons": {h: hm.sessions for h, hm in fc.horizons.items()},
        "skill": {h: {**(skill.get(h) or {}), "summary": skill_summary(h, skill.get(h))} for h in fc.horizons},
    })


def _market_context(close: pd.Series, bench: str, timeframe: str, sessions_n: int, spreads: pd.Series,
                    lead: dict, names: dict, day: pd.Timestamp) -> str:
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
        parts.append(f"strongest {names.get(hi, hi)} ({fmt_num(s[hi], 1, signed=True)} pp), "
                     f"weakest {names.get(lo, lo)} ({fmt_num(s[lo], 1, signed=True)} pp)")
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


def build_heatmap(loaded: LoadedMarket, table: pd.DataFrame, req: HeatmapRequest, champion=None,
                  model_status: str | None = None, cfg: ServingConfig | None = None,
                  feature_cfg: FeatureConfig | None = None, now=None) -> dict:
    """The heatmap for one request. `table` is features.table.build_feature_table(loaded.panels).

    `champion` is a training.registry.ChampionModel or None (descriptive only, never an error);
    `model_status` is what the registry said (default: "ok" / "unavailable: no model loaded").
    `now` (UTC) is injectable so freshness is testable. Raises ValueError naming a bad request field.
    """
    cfg, fcfg = cfg or ServingConfig(), feature_cfg or FeatureConfig()
    now = pd.Timestamp.now("UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    req = req.check(cfg, today=now.tz_localize(None))
    uni, panels, market = loaded.universe, loaded.panels, loaded.market
    if req.market_index is not None and req.market_index != uni.benchmark:
        raise ValueError(f"market_index: {req.market_index!r} is not the benchmark of universe {uni.name!r} "
                         f"({uni.benchmark}); leave it out or use {uni.benchmark}")
    pos = panels.session_at(req.as_of)
    day = panels.dates[pos]
    windows = {w: fcfg.return_windows[w] for w in cfg.spread_windows}
    mx = rotation_matrix(panels, uni, day, replace(fcfg, matrix_windows=windows))
    thr = fcfg.neutral_threshold_pp
    rows = _rows_on(table, day)
    if model_status is None:
        model_status = "ok" if champion is not None else "unavailable: no model loaded"
    preds, model_status = _predict(champion, rows, model_status)
    horizon = cfg.horizon_for_timeframe[req.timeframe]
    card = model_card(champion) if preds is not None else None
    h_skill = (card or {}).get("skill", {}).get(horizon)
    factor = skill_factor(h_skill, cfg.full_skill_rank_ic) if card and horizon in card["horizons"] else 0.0
    weights = base_weights(cfg.health_weights, factor)
    hr = health_scores(_health_inputs(rows, mx.spreads_pp, preds, horizon, cfg), cfg.health_components, weights)
    show_pred = preds is not None and "predicted" in req.metrics
    horizons = list(card["horizons"]) if card else []
    sectors = []
    # plain dicts: per-row pandas lookups would cost more than everything else here
    feat, spread = rows.to_dict("index"), mx.spreads_pp.to_dict("index")
    pred = preds.to_dict("index") if show_pred else {}
    comps, wts, scores = hr.components.to_dict("index"), hr.weights.to_dict("index"), hr.scores.to_dict()
    for key in rows.index:
        score = scores[key]
        sectors.append({
            "name": panels.names.get(key, key),
            "ticker": key,
            "cohort": uni.cohort_of(key),
            "descriptive": _descriptive(feat[key], spread[key], req.metrics, req.timeframe, cfg, thr),
            "predicted": _predicted(pred[key], horizons, thr) if show_pred else None,
            "health_score": _r(score, 1),
            "health_components": {k: _r(v, 2) for k, v in comps[key].items()},
            "health_weights": {k: _r(v, 4) for k, v in wts[key].items()},
            "color": score_color(score, cfg.color_stops),
        })
    sectors.sort(key=lambda s: (s["health_score"] is None, -(s["health_score"] or 0.0), s["ticker"]))
    fresh = freshness(panels.dates[-1], uni.calendar, now, cfg.stale_sessions)
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "as_of": day.date().isoformat(),
        "requested_as_of": req.as_of.date().isoformat() if req.as_of is not None else None,
        "data_through": fresh["data_through"],
        "data_source": market.source,
        "is_demo": market.is_demo,
        "stale": fresh["stale"],
        "freshness": fresh,
        "universe": uni.name,
        "benchmark": uni.benchmark,
        "timeframe": req.timeframe,
        "metrics": list(req.metrics),
        "neutral_threshold_pp": thr,
        "model_status": model_status,
        "model": card,
        "columns": {
            "descriptive": _descriptive_columns(req.metrics, req.timeframe, cfg, fcfg, uni.benchmark),
            "predicted": [{"horizon": h, "sessions": card["horizons"][h], "label": f"{h} ahead",
                           "skill": card["skill"][h]["summary"]} for h in horizons] if show_pred else [],
        },
        "health": _health_block(cfg, weights, factor, horizon, card),
        "sectors": sectors,
        "not_listed": [k for k in panels.sectors if k not in rows.index],
        "leadership": {w: mx.leadership[w] for w in cfg.descriptive_windows},
        "leadership_rule": LEADERSHIP_RULE,
        "market_context": _market_context(panels.benchmark["close"].iloc[: pos + 1], uni.benchmark, req.timeframe, fcfg.return_windows[req.timeframe],
                                          mx.spreads_pp[req.timeframe], mx.leadership[req.timeframe], panels.names, day),
    }
