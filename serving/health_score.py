"""Sector health score: one 0-100 number a portfolio manager can read, and check.

    health = sum_k  w_k * c_k            over the components k a sector has a value for
    c_k    = mean over k's inputs of the sector's cross-sectional percentile that date
             (0 = weakest sector, 100 = strongest, ties share the average rank)
    w_k    = base weight of k, renormalised to sum to 1 over the sector's available components

Components (inputs in ServingConfig.health_components):
  relative_strength  relative return vs the benchmark over 1M, 3M, 12M (the rotation matrix windows)
  trend              12-1 momentum, distance from the 50/200-day averages, RS-momentum
  volume             up/down volume, accumulation/distribution, relative volume signed by the 1M move
                     (volume confirms a move when participation rises in its direction)
  sentiment          market-implied sentiment score (RSI and money-flow index), plus news sentiment
                     (recency-weighted headline score) for a sector with enough recent headlines
                     (features.news min_headlines; serving/news.py); each sector lists the inputs used
  predicted          the model's forward relative return for the timeframe's horizon

The predicted weight is its base weight times the model's measured out-of-sample skill:
  factor = min(1, rank_IC_mean / full_skill_rank_ic)  when the skill is distinguishable from zero
           (card "significant" true AND the interval's lower end above 0), else 0;
         and 0 whenever the live scorecard of that horizon raised its drift alarm (skill["live"]["drift"]).
So an unproven model adds nothing, and with no model the descriptive weights are renormalised.
Percentiles use that date's sectors only, so the score ranks sectors; it is not a forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.crosssection import xs_percentile

FORMULA = (
    "health = sum_k w_k * c_k; c_k = mean of the sector's cross-sectional percentiles (0 weakest .. 100 strongest, "
    "that date) over component k's inputs; w_k = base weight (predicted: base x skill factor) renormalised over "
    "the components the sector has; skill factor = min(1, rank IC / full_skill_rank_ic) if the out-of-sample "
    "rank IC is distinguishable from zero (significant and interval above 0) and the live scorecard raises no drift "
    "alarm, else 0"
)
NA_COLOR = "#bdbdbd"
MINUS = "\u2212"


def _is_true(v) -> bool:
    """JSON true or numpy True; not 1, not "yes" (a card must say it plainly)."""
    return isinstance(v, (bool, np.bool_)) and bool(v)


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def fmt_num(x: float, digits: int = 2, signed: bool = False) -> str:
    """A number for people: fixed digits, a real minus sign (and '+' for positives when `signed`)."""
    return (f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}").replace("-", MINUS)


def skill_sentence(horizon: str, skill: dict | None) -> str:
    """Plain words, e.g. '1M rank IC 0.03 [-0.01, 0.07]: not distinguishable from zero'."""
    if not skill or not np.isfinite(_num(skill.get("rank_ic_mean"))):
        return f"{horizon}: no out-of-sample skill recorded"
    m, lo, hi = (_num(skill.get(k)) for k in ("rank_ic_mean", "rank_ic_ci_low", "rank_ic_ci_high"))
    head = f"{horizon} rank IC {fmt_num(m)} [{fmt_num(lo)}, {fmt_num(hi)}]"
    if _is_true(skill.get("significant")) and lo > 0:
        verdict = "distinguishable from zero (positive)"
    elif _is_true(skill.get("significant")) and hi < 0:
        verdict = "negative: worse than chance"
    else:
        verdict = "not distinguishable from zero"
    return f"{head}: {verdict}" + live_drift_words(skill)


def live_drift(skill: dict | None) -> bool:
    """Whether the live scorecard of this horizon raised its drift alarm (training/scorecard.py)."""
    live = (skill or {}).get("live") or {}
    return _is_true(live.get("drift"))


def live_drift_words(skill: dict | None) -> str:
    """'; LIVE DRIFT ALARM: <reasons> ...' when the alarm is raised, else ''."""
    if not live_drift(skill):
        return ""
    reasons = "; ".join((skill or {})["live"].get("drift_reasons") or [])
    return f"; LIVE DRIFT ALARM: {reasons}: forecasts get no weight in the health score"


def skill_factor(skill: dict | None, full_skill_rank_ic: float) -> float:
    """0..1 share of the predicted weight the model earns (see the module docstring)."""
    if not skill or not _is_true(skill.get("significant")) or live_drift(skill):
        return 0.0
    mean, lo = _num(skill.get("rank_ic_mean")), _num(skill.get("rank_ic_ci_low"))
    if not (np.isfinite(mean) and np.isfinite(lo)) or lo <= 0 or mean <= 0:
        return 0.0
    return float(min(1.0, mean / full_skill_rank_ic))


def base_weights(weights: dict[str, float], factor: float, predicted: str = "predicted") -> dict[str, float]:
    """Weights after the skill factor, normalised to sum to 1 (before per-sector gaps)."""
    w = {k: (v * factor if k == predicted else v) for k, v in weights.items()}
    total = sum(w.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in w.items()}


@dataclass
class HealthResult:
    scores: pd.Series  # sector -> 0..100 (NaN when a sector has no component at all)
    components: pd.DataFrame  # sector x component, 0..100 or NaN
    weights: pd.DataFrame  # sector x component, effective weights summing to 1 per sector


def health_scores(
    inputs: pd.DataFrame, components: dict[str, tuple[str, ...]], weights: dict[str, float]
) -> HealthResult:
    """Score each row of `inputs` (sector x input column, one date) by the documented formula.

    Inputs that are absent (e.g. `pred` with no model) count as missing, never as zero.
    """
    pct = (xs_percentile(inputs.astype("float64"), axis=0) * 100.0).to_numpy()  # across sectors, per input
    where = {c: i for i, c in enumerate(inputs.columns)}
    names = list(components)
    comp = np.full((len(inputs), len(names)), np.nan)
    for j, k in enumerate(names):
        block = pct[:, [where[c] for c in components[k] if c in where]]
        have = np.isfinite(block).any(axis=1)
        comp[have, j] = np.nanmean(block[have], axis=1)
    w = np.array([float(weights.get(k, 0.0)) for k in names])
    raw = np.where(np.isfinite(comp), w, 0.0)
    total = raw.sum(axis=1, keepdims=True)
    eff = np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)
    scores = np.where(total[:, 0] > 0, (np.nan_to_num(comp) * eff).sum(axis=1), np.nan)
    return HealthResult(
        scores=pd.Series(scores, index=inputs.index),
        components=pd.DataFrame(comp, index=inputs.index, columns=names),
        weights=pd.DataFrame(eff, index=inputs.index, columns=names),
    )


def with_component_input(
    components: dict[str, tuple[str, ...]], component: str, column: str
) -> dict[str, tuple[str, ...]]:
    """`components` with one more input for `component` (e.g. news sentiment for sentiment). A sector
    whose value of it is NaN keeps the component's other inputs only."""
    return {k: (*v, column) if k == component else v for k, v in components.items()}


def _hex_rgb(h: str) -> np.ndarray:
    h = h.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype="float64")


def score_color(score: float | None, stops: tuple[tuple[float, str], ...]) -> str:
    """Hex colour of a 0-100 score on the diverging scale (linear in RGB between stops)."""
    if score is None or not np.isfinite(score):
        return NA_COLOR
    xs = [s for s, _ in stops]
    s = float(np.clip(score, xs[0], xs[-1]))
    i = max(0, min(int(np.searchsorted(xs, s, side="right")) - 1, len(xs) - 2))
    t = (s - xs[i]) / (xs[i + 1] - xs[i]) if xs[i + 1] > xs[i] else 0.0
    rgb = _hex_rgb(stops[i][1]) * (1 - t) + _hex_rgb(stops[i + 1][1]) * t
    return "#" + "".join(f"{int(round(c)):02x}" for c in rgb)
