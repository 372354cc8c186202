"""TA-Lib indicators applied column by column to the sector panels (the field's implementations)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.sectors import SectorPanels

# name -> which panel fields the TA-Lib function takes, in order
_INPUTS = {
    "NATR": ("high", "low", "close"),
    "MFI": ("high", "low", "close", "volume"),
    "RSI": ("close",),
    "ADOSC": ("high", "low", "close", "volume"),
}


def per_sector(p: SectorPanels, func: str, *args) -> pd.DataFrame:
    """Run TA-Lib `func` on each sector's own history (from its first bar, so late listers work)."""
    import talib  # deferred: keep `import features` cheap

    fn = getattr(talib, func)
    out = pd.DataFrame(np.nan, index=p.dates, columns=p.close.columns)
    for s in p.sectors:
        valid = p.close[s].notna().to_numpy()
        if valid.sum() <= (args[0] if args else 0) + 1:
            continue
        idx = np.flatnonzero(valid)
        lo, hi = idx[0], idx[-1] + 1
        # TA-Lib's recursive smoothing never recovers from a NaN, so holes inside a sector's life
        # are carried forward for the computation and masked again in the output
        cols = [
            getattr(p, f)[s].iloc[lo:hi].fillna(0.0) if f == "volume" else getattr(p, f)[s].iloc[lo:hi].ffill()
            for f in _INPUTS[func]
        ]
        values = fn(*(np.ascontiguousarray(c.to_numpy(dtype="float64")) for c in cols), *args)
        out.iloc[lo:hi, out.columns.get_loc(s)] = np.where(valid[lo:hi], values, np.nan)
    return out
