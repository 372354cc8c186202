"""One point-in-time market dataset: the only way training, evaluation, serving and the benchmarks
get bars, sector panels, features and labels.

Why one object: each caller used to repeat load -> panels -> features and cut the data its own
way in between, so a logged data hash could describe data that was never scored. Here the
bars, the panels, the source and the derived tables are cut together (`upto`), and
`data_hash` is computed over exactly the bars held.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from features.config import FeatureConfig
from features.errors import RequestError
from features.findings import ValidationReport
from features.sectors import SectorPanels, sector_panels
from features.sources import MarketData
from features.sources.data_source import DataSource
from features.universe import Universe, load_universe


@dataclass(frozen=True, eq=False)
class MarketDataset:
    bars: pd.DataFrame  # validated tidy bars (features.bars.BAR_COLUMNS)
    universe: Universe
    source: DataSource  # what was actually used, after any fallback
    panels: SectorPanels
    config: FeatureConfig = field(default_factory=FeatureConfig)
    report: ValidationReport = field(default_factory=ValidationReport)
    notes: tuple[str, ...] = ()  # fallbacks and warnings, announced loudly
    _labels: dict = field(default_factory=dict, init=False, repr=False)  # horizons -> labels (memo)

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        source: str | DataSource = "auto",
        universe: str | Universe = "us_sectors",
        config: FeatureConfig | None = None,
        *,
        cache_dir=None,
    ) -> MarketDataset:
        """Load a source for a universe (a demo with constituents brings its own universe)."""
        from features.sources.market import load_market

        cfg = config or FeatureConfig()
        uni = universe if isinstance(universe, Universe) else load_universe(universe)
        src = DataSource.parse(source, cfg.demo)
        market = load_market(
            src,
            uni,
            cache_dir=cache_dir,
            deadline_s=cfg.download_deadline_s,
            validation=cfg.validation,
            batch=cfg.download_batch,
            parallel=cfg.download_parallel,
        )
        return cls.from_market(market, market.universe or uni, cfg)

    @classmethod
    def from_market(cls, market: MarketData, universe: Universe, config: FeatureConfig | None = None) -> MarketDataset:
        return cls.from_bars(market.bars, universe, market.source, config, market.report, tuple(market.notes))

    @classmethod
    def from_bars(
        cls,
        bars: pd.DataFrame,
        universe: Universe,
        source: str | DataSource,
        config: FeatureConfig | None = None,
        report: ValidationReport | None = None,
        notes: tuple[str, ...] = (),
    ) -> MarketDataset:
        cfg = config or FeatureConfig()
        src = DataSource.parse(source)
        panels = sector_panels(bars, universe, max_fill=cfg.max_fill, config=cfg)
        report = report or ValidationReport()
        notes = (*notes, *panels.membership_notes(report))  # a sector that lost members says so
        return cls(bars, universe, src, panels, cfg, report, tuple(notes))

    # ---- point in time -------------------------------------------------------------------
    def upto(self, day) -> MarketDataset:
        """Everything as it was known at the close of `day`: bars, panels, features and labels."""
        try:
            cut = pd.Timestamp(day)
        except (TypeError, ValueError):
            raise RequestError(f"upto: {day!r} is not a date (YYYY-MM-DD)") from None
        bars = self.bars[self.bars["date"] <= cut].reset_index(drop=True)
        return MarketDataset(
            bars, self.universe, self.source, self.panels.upto(cut), self.config, self.report, self.notes
        )

    def with_features(self, table: pd.DataFrame) -> MarketDataset:
        """The same data with a given feature table (research: a candidate feature, a leak audit)."""
        out = MarketDataset(self.bars, self.universe, self.source, self.panels, self.config, self.report, self.notes)
        out.__dict__["features"] = table  # what the cached property would hold
        return out

    # ---- derived tables (built once, on first use) ---------------------------------------
    @cached_property
    def features(self) -> pd.DataFrame:
        """The feature table, one row per (date, sector) (features.table)."""
        from features.table import build_feature_table

        return build_feature_table(self.panels, self.config)

    def labels(self, horizons: dict[str, int]) -> pd.DataFrame:
        """Forward relative returns `label_<H>` per (date, sector); NaN where the horizon is not over yet."""
        from features.labels import stack_labels

        key = tuple(sorted(horizons.items()))
        if key not in self._labels:
            self._labels[key] = stack_labels(self.panels, horizons)
        return self._labels[key]

    # ---- description ---------------------------------------------------------------------
    @property
    def data_through(self) -> pd.Timestamp | None:
        return None if self.bars.empty else self.bars["date"].max()

    @cached_property
    def data_hash(self) -> str:
        """Hash of exactly the bars held (after any cut), for MLflow tags."""
        digest = pd.util.hash_pandas_object(self.bars, index=False).to_numpy().tobytes()
        return hashlib.sha256(digest).hexdigest()[:16]

    @property
    def version(self) -> str:
        """Changes whenever the data does: part of every response-cache key."""
        return f"{self.source.label}@{self.data_through}"
