"""Source + universe -> validated bars -> sector panels: the one path every command shares."""
from __future__ import annotations

from dataclasses import dataclass

from features.config import FeatureConfig
from features.sectors import SectorPanels, sector_panels
from features.sources import MarketData
from features.universe import Universe, load_universe


@dataclass
class LoadedMarket:
    market: MarketData
    universe: Universe
    panels: SectorPanels


def load_panels(source: str = "auto", universe: str = "us_sectors", cfg: FeatureConfig | None = None,
                **source_kwargs) -> LoadedMarket:
    """Load a source for a universe and build its panels (a demo with constituents brings its own universe)."""
    from features.sources.market import load_market

    cfg = cfg or FeatureConfig()
    uni = load_universe(universe)
    market = load_market(source, uni, **source_kwargs)
    uni = market.universe or uni
    return LoadedMarket(market, uni, sector_panels(market.bars, uni, max_fill=cfg.max_fill))
