"""The feature set, declared once: which blocks build the table, and the exact columns it holds.

Each feature module names its own columns (one helper per name pattern) and its compute function
uses those names; this registry lists the blocks in table order. Everyone else (training's
baselines, serving's config, a loaded model) asks here, so a renamed or re-windowed feature is
caught at start-up by `require_columns`, with the missing name, not as a 400 on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from features.breadth import breadth_columns, breadth_features
from features.config import FeatureConfig
from features.context import context_columns
from features.errors import ConfigError
from features.momentum import momentum_columns, momentum_features
from features.sectors import SectorPanels
from features.volatility import volatility_columns, volatility_features
from features.volume import sentiment_columns, sentiment_features, volume_columns, volume_features

RANK_SUFFIX = "_xs_rank"


@dataclass(frozen=True)
class FeatureBlock:
    name: str
    compute: Callable[[SectorPanels, FeatureConfig], dict[str, pd.DataFrame]]
    columns: Callable[[FeatureConfig], list[str]]  # what `compute` returns, in order
    members: bool = False  # computed from members' prices: only for constituent universes (panels.member_closes)


SECTOR_BLOCKS = (
    FeatureBlock("momentum", momentum_features, momentum_columns),
    FeatureBlock("volume", volume_features, volume_columns),
    FeatureBlock("volatility", volatility_features, volatility_columns),
    FeatureBlock("sentiment", sentiment_features, sentiment_columns),
    FeatureBlock("breadth", breadth_features, breadth_columns, members=True),
)


def rank_of(column: str) -> str:
    """The cross-sectional percentile rank column of a per-sector feature."""
    return column + RANK_SUFFIX


def blocks_for(members: bool) -> tuple[FeatureBlock, ...]:
    """The blocks of a table: member blocks (breadth) only when the panels hold members."""
    return tuple(b for b in SECTOR_BLOCKS if members or not b.members)


def sector_columns(cfg: FeatureConfig, members: bool = False) -> list[str]:
    return [c for block in blocks_for(members) for c in block.columns(cfg)]


def feature_columns(
    cfg: FeatureConfig, context_present: Iterable[str], ranks: bool = True, members: bool = False
) -> list[str]:
    """Every column of the feature table, in order, without building it (`members`: a constituent universe)."""
    sector = sector_columns(cfg, members)
    return [*sector, *([rank_of(c) for c in sector] if ranks else []), *context_columns(context_present)]


def require_columns(needed: Iterable[str], available: Iterable[str], who: str) -> None:
    """Raise ConfigError naming every column `who` needs that the feature table does not have."""
    have = set(available)
    missing = [c for c in dict.fromkeys(needed) if c not in have]
    if missing:
        raise ConfigError(
            f"{who} needs feature column(s) {', '.join(missing)} that the feature table does not "
            f"have (check the window settings in the features: section); it has e.g. "
            f"{', '.join(sorted(have)[:12])}"
        )
