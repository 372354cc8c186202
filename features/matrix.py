"""The descriptive sector rotation matrix: sector minus benchmark total return per window.

Spec (seed "Sector rotation matrix"): no smoothing; a cell is bull / bear by the sign of the
spread and neutral when |spread| is below the threshold (default 0.5 pp); rows ordered by the
12-month spread, strongest first. It describes what happened; it does not predict.

Leadership profile (a heuristic, and labelled as one): for each window, average the spreads of
each cohort's sectors (early-cycle, late-cycle, defensive). The cohort with the highest average
leads if that average is positive and beats the runner-up by at least the neutral threshold;
otherwise the window is "mixed". Concentrated mega-cap leadership can defeat this mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.momentum import relative_total_return
from features.sectors import SectorPanels
from features.universe import Universe

LEADERSHIP_RULE = (
    "the cohort (early-cycle, late-cycle, defensive) with the highest mean spread leads when that mean is "
    "positive and beats the runner-up by at least the neutral threshold; otherwise 'mixed'. A heuristic."
)
DISCLAIMER = "Descriptive, not predictive: sector momentum is a weak cross-sectional predictor on its own."


DISPLAY_DIGITS = 3  # spreads are shown (and so tinted) at this precision, in percentage points


def tint(spread_pp: float | None, threshold_pp: float) -> str:
    """bull / bear / neutral for a spread as displayed, so a cell showing +0.500 is never neutral."""
    if spread_pp is None or not np.isfinite(spread_pp):
        return "n/a"
    spread_pp = round(float(spread_pp), DISPLAY_DIGITS)
    if abs(spread_pp) < threshold_pp:
        return "neutral"
    return "bull" if spread_pp > 0 else "bear"


def leadership(spreads: pd.Series, universe: Universe, threshold_pp: float) -> dict:
    """Which cohort dominates one window's spreads (see the module docstring for the rule)."""
    means = {}
    for cohort, names in universe.cohorts.items():
        keys = [s.key for s in universe.sectors if s.name in names]
        vals = spreads.reindex(keys).dropna()
        if len(vals):
            means[cohort] = float(vals.mean())
    ranked = sorted(means.items(), key=lambda kv: kv[1], reverse=True)
    leader = "mixed"
    if ranked and ranked[0][1] > 0 and (len(ranked) == 1 or ranked[0][1] - ranked[1][1] >= threshold_pp):
        leader = ranked[0][0]
    return {"leader": leader, "cohort_mean_spread_pp": {k: round(v, 3) for k, v in means.items()}}


@dataclass
class RotationMatrix:
    as_of: pd.Timestamp
    benchmark: str
    spreads_pp: pd.DataFrame  # sector key x window, percentage points, ordered strongest first
    names: dict[str, str]
    threshold_pp: float
    windows: dict[str, int]
    leadership: dict[str, dict]

    def tints(self) -> pd.DataFrame:
        return self.spreads_pp.map(lambda v: tint(v, self.threshold_pp))

    def to_dict(self) -> dict:
        tints = self.tints()
        return {
            "as_of": self.as_of.date().isoformat(),
            "benchmark": self.benchmark,
            "windows_sessions": self.windows,
            "neutral_threshold_pp": self.threshold_pp,
            "order": f"by {self.order_window} spread, strongest first",
            "rows": [
                {
                    "sector": self.names.get(k, k),
                    "ticker": k,
                    "spread_pp": {
                        w: (None if pd.isna(v) else round(float(v), DISPLAY_DIGITS))
                        for w, v in self.spreads_pp.loc[k].items()
                    },
                    "tint": tints.loc[k].to_dict(),
                }
                for k in self.spreads_pp.index
            ],
            "leadership": self.leadership,
            "leadership_rule": LEADERSHIP_RULE,
            "note": DISCLAIMER,
        }

    @property
    def order_window(self) -> str:
        return list(self.windows)[-1]


def rotation_matrix(
    p: SectorPanels, universe: Universe, as_of=None, cfg: FeatureConfig | None = None
) -> RotationMatrix:
    """The matrix on the last session at or before `as_of` (default: the latest data)."""
    cfg = cfg or FeatureConfig()
    pos = p.session_at(as_of)
    day = p.dates[pos]
    # only the sessions the longest window reaches back to: one row costs O(window), not O(history)
    recent = slice(max(0, pos - max(cfg.matrix_windows.values())), pos + 1)
    close, bench = p.close.iloc[recent], p.benchmark["close"].iloc[recent]
    spreads = pd.DataFrame(
        {name: relative_total_return(close, bench, w).iloc[-1] * 100.0 for name, w in cfg.matrix_windows.items()}
    )
    order_col = list(cfg.matrix_windows)[-1]
    spreads = spreads.sort_values(order_col, ascending=False, na_position="last")
    return RotationMatrix(
        as_of=day,
        benchmark=universe.benchmark,
        spreads_pp=spreads,
        names=p.names,
        threshold_pp=cfg.neutral_threshold_pp,
        windows=dict(cfg.matrix_windows),
        leadership={w: leadership(spreads[w], universe, cfg.neutral_threshold_pp) for w in spreads.columns},
    )
