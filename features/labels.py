"""Labels: forward log return of each sector minus the benchmark's, over each horizon.

The label on date t uses closes t .. t+h, so it exists only once t+h has traded; the walk-forward
purges training rows whose label window reaches into a test period. They live beside the
features because the dataset cuts both together (features.dataset).
"""

from __future__ import annotations

import pandas as pd

from features.momentum import log_relative_price
from features.sectors import SectorPanels


def forward_relative_returns(p: SectorPanels, horizon: int) -> pd.DataFrame:
    """(date x sector) forward log relative return over `horizon` sessions; NaN at the end."""
    rel = log_relative_price(p)
    return rel.shift(-horizon) - rel


def stack_labels(p: SectorPanels, horizons: dict[str, int]) -> pd.DataFrame:
    """Labels for every horizon as columns `label_<H>`, indexed (date, sector)."""
    cols = {}
    for name, h in horizons.items():
        cols[f"label_{name}"] = forward_relative_returns(p, h).stack(future_stack=True)
    out = pd.DataFrame(cols)
    out.index.names = ["date", "sector"]
    return out
