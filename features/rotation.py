"""Sector rotation: the descriptive matrix plus each sector's relative-rotation coordinates.

RS-ratio and RS-momentum are the causal, trailing-window z-scores the momentum features compute
(centred on 100); a sector's quadrant follows the usual relative-rotation reading.
"""

from __future__ import annotations

import numpy as np

from features.dataset import MarketDataset
from features.matrix import rotation_matrix
from features.momentum import RS_MOMENTUM, RS_RATIO

QUADRANT_RULE = (
    "leading: RS-ratio and RS-momentum >= 100; weakening: ratio >= 100, momentum < 100; "
    "lagging: both < 100; improving: ratio < 100, momentum >= 100 (descriptive, not a forecast)"
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


def sector_rotation(ds: MarketDataset, as_of=None) -> dict:
    """The rotation matrix (1M/3M/12M spreads, ordered by 12M, leadership) and the rotation coordinates."""
    m = rotation_matrix(ds.panels, ds.universe, as_of, ds.config)
    return {
        "universe": ds.universe.name,
        "data_source": ds.source.label,
        **m.to_dict(),
        "relative_rotation": rrg_coordinates(ds, m.as_of),
        "quadrant_rule": QUADRANT_RULE,
    }
