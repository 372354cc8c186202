"""Market data sources. Each yields tidy bars (features.bars) plus a validation report.

Source specs (the `--source` option):
  yfinance          live download, cached on disk and refreshed incrementally
  csv:DIR           one yfinance-style CSV per ticker (``XLK.csv``)
  demo[:k=v,...]    the embedded, seeded demo market (knobs: sectors, stocks, years, signal, seed)
  auto              yfinance when reachable, else the newest cache, else the demo market
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from features.report import ValidationReport
from features.universe import Universe


class SourceError(RuntimeError):
    """A source that cannot deliver usable data; the message says which and why."""


@dataclass
class MarketData:
    bars: pd.DataFrame  # tidy bars (features.bars.BAR_COLUMNS)
    source: str  # what was actually used, recorded in MLflow tags and API responses
    report: ValidationReport = field(default_factory=ValidationReport)
    universe: Universe | None = None  # set when the source defines its own (demo constituents)
    notes: list[str] = field(default_factory=list)  # fallbacks and warnings, announced loudly

    @property
    def kind(self) -> str:
        """demo, csv, yfinance or yfinance-cache: the source without its arguments."""
        return self.source.split("(")[0].split(":")[0]

    @property
    def is_demo(self) -> bool:
        return self.source.startswith("demo")

    @property
    def data_through(self) -> pd.Timestamp | None:
        return None if self.bars.empty else self.bars["date"].max()


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``kind:arg``; the kind must be one we know."""
    kind, _, arg = spec.partition(":")
    if kind not in ("auto", "yfinance", "csv", "demo"):
        raise SourceError(f"unknown source {spec!r}: use auto, yfinance, csv:DIR or demo[:k=v,...]")
    if kind == "csv" and not arg:
        raise SourceError("source csv needs a folder: csv:DIR")
    return kind, arg
