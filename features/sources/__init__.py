"""Market data sources. Each yields tidy bars (features.bars) plus a validation report.

Source specs (the `--source` option, parsed once into features.sources.data_source.DataSource):
  yfinance          live download, cached on disk and refreshed incrementally
  csv:DIR           one yfinance-style CSV per ticker (``XLK.csv``)
  demo[:k=v,...]    the embedded, seeded demo market (knobs: sectors, stocks, years, signal, seed)
  auto              yfinance when reachable, else the newest cache, else the demo market
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from features.findings import ValidationReport
from features.sources.data_source import DataSource
from features.universe import Universe


@dataclass
class MarketData:
    """What one source delivered: bars, what was really used, what validation did, fallbacks taken."""

    bars: pd.DataFrame  # tidy bars (features.bars.BAR_COLUMNS)
    source: DataSource  # what was actually used (after any fallback)
    report: ValidationReport = field(default_factory=ValidationReport)
    universe: Universe | None = None  # set when the source defines its own (demo constituents)
    notes: list[str] = field(default_factory=list)  # fallbacks and warnings, announced loudly

    @property
    def data_through(self) -> pd.Timestamp | None:
        return None if self.bars.empty else self.bars["date"].max()
