"""The feature table: one row per (date, sector), every value computed from data up to that date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.context import context_features
from features.crosssection import xs_percentile
from features.registry import blocks_for, rank_of
from features.sectors import SectorPanels


def sector_feature_panels(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    """Every per-sector feature as a (date x sector) panel, before stacking."""
    out: dict[str, pd.DataFrame] = {}
    for block in blocks_for(p.member_closes is not None):
        out.update(block.compute(p, cfg))
    return out


def build_feature_table(p: SectorPanels, cfg: FeatureConfig | None = None, ranks: bool = True) -> pd.DataFrame:
    """Stack sector features, their cross-sectional ranks and the market context into one table.

    Index: (date, sector). Rows exist only where the sector has a price (late listers start late).
    Ranks are percentiles across the sectors present that date, so they only use that date.
    Columns: features.registry.feature_columns, in that order.
    """
    cfg = cfg or FeatureConfig()
    panels = sector_feature_panels(p, cfg)
    if ranks:
        panels.update({rank_of(k): xs_percentile(v, zero_based=False) for k, v in list(panels.items())})
    dates, sectors = p.dates, p.close.columns
    index = pd.MultiIndex.from_product([dates, sectors], names=["date", "sector"])
    data = {k: v.reindex(index=dates, columns=sectors).to_numpy(dtype="float64").ravel() for k, v in panels.items()}
    ctx = context_features(p, cfg)
    for k in ctx.columns:
        data[k] = np.repeat(ctx[k].to_numpy(dtype="float64"), len(sectors))
    table = pd.DataFrame(data, index=index)
    listed = p.close.notna().to_numpy().ravel()
    return table[listed]
