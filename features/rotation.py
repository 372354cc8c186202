"""Sector rotation: the descriptive matrix plus each sector's relative-rotation coordinates.

RS-ratio and RS-momentum are the causal, trailing-window z-scores the momentum features compute
(centred on 100); a sector's quadrant follows the usual relative-rotation reading. The rotation graph's
tails are the same daily values read at each week's last session (the head is the session at as_of),
so every point uses only data up to its own date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.dataset import MarketDataset
from features.errors import RequestError
from features.matrix import rotation_matrix
from features.momentum import RS_MOMENTUM, RS_RATIO

QUADRANT_RULE = (
    "leading: RS-ratio and RS-momentum >= 100; weakening: ratio >= 100, momentum < 100; "
    "lagging: both < 100; improving: ratio < 100, momentum >= 100 (descriptive, not a forecast)"
)
TAIL_WEEKS = 8  # default points per tail (the head included)
MAX_TAIL_WEEKS = 52
TAIL_RULE = (
    "one point per week: RS-ratio and RS-momentum at the week's last session, the head at as_of; "
    "each point uses only data up to its own date"
)


def quadrant(ratio: float | None, momentum: float | None) -> str | None:
    if ratio is None or momentum is None or not (np.isfinite(ratio) and np.isfinite(momentum)):
        return None
    if ratio >= 100.0:
        return "leading" if momentum >= 100.0 else "weakening"
    return "improving" if momentum >= 100.0 else "lagging"


def rrg_coordinates(ds: MarketDataset, as_of=None) -> list[dict]:
    """Each listed sector's RS-ratio, RS-momentum and quadrant on the session at `as_of`."""
    day = ds.panels.dates[ds.panels.session_at(as_of)]
    rows = ds.features.xs(day, level="date")
    out = []
    for key, r in rows[[RS_RATIO, RS_MOMENTUM]].iterrows():
        ratio, mom = (float(r[RS_RATIO]), float(r[RS_MOMENTUM]))
        ok = np.isfinite(ratio) and np.isfinite(mom)
        out.append(
            {
                "sector": ds.panels.names.get(str(key), str(key)),
                "ticker": str(key),
                "rs_ratio": round(ratio, 2) if ok else None,
                "rs_momentum": round(mom, 2) if ok else None,
                "quadrant": quadrant(ratio, mom) if ok else None,
            }
        )
    return out


def check_tail_weeks(weeks) -> int:
    """A tail length in weeks (1..MAX_TAIL_WEEKS); RequestError naming `tail_weeks` otherwise."""
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= MAX_TAIL_WEEKS:
        raise RequestError(
            f"tail_weeks: expected a whole number of weeks from 1 to {MAX_TAIL_WEEKS}, got {weeks!r}"[:160]
        )
    return weeks


def week_ends(dates: pd.DatetimeIndex, pos: int, weeks: int) -> pd.DatetimeIndex:
    """The last session of each of the `weeks` weeks up to position `pos`; the last one is dates[pos] itself."""
    upto = dates[: pos + 1]
    week = upto.to_period("W").asi8
    last = np.append(week[1:] != week[:-1], True)  # a session whose next session falls in another week
    return upto[last][-weeks:]


def rotation_tails(ds: MarketDataset, as_of=None, weeks: int = TAIL_WEEKS) -> list[dict]:
    """Per listed sector: its last `weeks` weekly (RS-ratio, RS-momentum) points, oldest first, and quadrant."""
    weeks = check_tail_weeks(weeks)
    pos = ds.panels.session_at(as_of)
    days = week_ends(ds.panels.dates, pos, weeks)
    rows = ds.features.loc[(slice(days[0], days[-1]), slice(None)), [RS_RATIO, RS_MOMENTUM]]
    rows = rows[rows.index.get_level_values("date").isin(days)]
    out = []
    for key in ds.panels.sectors:
        if not np.isfinite(ds.panels.close[key].iloc[pos]):
            continue  # not listed on as_of: no head, no tail
        pts = rows.xs(key, level="sector") if key in rows.index.get_level_values("sector") else rows.iloc[:0]
        points = [
            {"date": d.date().isoformat(), "rs_ratio": round(float(r), 2), "rs_momentum": round(float(m), 2)}
            for d, r, m in zip(pts.index, pts[RS_RATIO], pts[RS_MOMENTUM], strict=True)
            if np.isfinite(r) and np.isfinite(m)
        ]
        head = points[-1] if points and points[-1]["date"] == days[-1].date().isoformat() else None
        out.append(
            {
                "sector": ds.panels.names.get(key, key),
                "ticker": key,
                "quadrant": quadrant(head["rs_ratio"], head["rs_momentum"]) if head else None,
                "points": points,
            }
        )
    return out


def sector_rotation(ds: MarketDataset, as_of=None, tail_weeks: int = TAIL_WEEKS) -> dict:
    """The rotation matrix (1M/3M/12M spreads, ordered by 12M, leadership), the rotation coordinates and,
    for the rotation graph, each sector's weekly tail."""
    m = rotation_matrix(ds.panels, ds.universe, as_of, ds.config)
    return {
        "universe": ds.universe.name,
        "data_source": ds.source.label,
        **m.to_dict(),
        "relative_rotation": rrg_coordinates(ds, m.as_of),
        "quadrant_rule": QUADRANT_RULE,
        "tail_weeks": check_tail_weeks(tail_weeks),
        "tail_rule": TAIL_RULE,
        "tails": rotation_tails(ds, m.as_of, tail_weeks),
    }
