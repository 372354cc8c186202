"""Sector series: one (date x sector) panel per field, from ETFs directly or aggregated from members.

Everything downstream (features, labels, matrix) works on these panels, aligned to the
benchmark's trading dates, so a sector that starts late (XLC 2018) is simply NaN before it lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.bars import VALUE_COLUMNS
from features.errors import DataError, RequestError
from features.members import NO_BARS, date_positions
from features.universe import Universe

if TYPE_CHECKING:
    from features.config import FeatureConfig

MEMBERS_NAMED = 20  # left-out members named per sector in a note (the rest are counted)
NO_DATA_KINDS = ("download_failed", "missing_file")  # findings that say why a member has no bars at all


@dataclass
class SectorPanels:
    """Wide panels indexed by the benchmark's dates; columns are sector keys."""

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame
    benchmark: pd.DataFrame  # columns open/high/low/close/volume of the benchmark
    context: pd.DataFrame  # columns = context names (vix, yield_10y, ...), closes
    names: dict[str, str]  # sector key -> display name
    # constituent universes only: members with a close each day (date x sector), and per sector
    # who is in and who was left out (and why), so a shrunken sector is always reported
    members: pd.DataFrame | None = None
    membership: dict[str, SectorMembership] | None = None
    # constituent universes only: members' closes, date x (sector, ticker) columns, forward-filled like the
    # sector closes (features/breadth.py reads them); None for a universe of one series per sector
    member_closes: pd.DataFrame | None = None

    @property
    def dates(self) -> pd.DatetimeIndex:
        return self.close.index

    @property
    def sectors(self) -> list[str]:
        return list(self.close.columns)

    def session_at(self, as_of=None) -> int:
        """Position of the last session at or before `as_of` (default: the latest); names as_of if too early.

        Too early means before the first session on which any sector has a price: the benchmark's dates can
        start years before the sectors' (SPY 1993, the sector ETFs 1998), and a matrix or heatmap of only
        missing sectors answers nothing. The matrix and the heatmap both ask here, so they refuse alike."""
        if len(self.dates) == 0:
            raise DataError("the panels hold no sessions")
        if as_of is None:
            return len(self.dates) - 1
        day = pd.Timestamp(as_of)
        first = self.first_sector_session
        if first is None:
            raise RequestError(f"as_of: no sector has any data, on {day.date()} or any other day")
        if day < first:
            raise RequestError(
                f"as_of: {day.date()} is before the data starts (the first sector data is {first.date()}); "
                f"use a date from {first.date()} to today"
            )
        return int(self.dates.searchsorted(day, side="right")) - 1

    @cached_property
    def first_sector_session(self) -> pd.Timestamp | None:
        """The first session on which at least one sector has a close (None when none ever has)."""
        listed = self.close.notna().to_numpy().any(axis=1)
        return self.dates[int(listed.argmax())] if listed.any() else None

    def upto(self, as_of) -> SectorPanels:
        """The panels as they were known at the close of `as_of` (used for causality and as_of requests)."""
        cut = lambda df: df.loc[: pd.Timestamp(as_of)]  # noqa: E731
        fields = {f: cut(getattr(self, f)) for f in VALUE_COLUMNS}
        return SectorPanels(
            **fields,
            benchmark=cut(self.benchmark),
            context=cut(self.context),
            names=dict(self.names),
            members=None if self.members is None else cut(self.members),
            membership=self.membership,
            member_closes=None if self.member_closes is None else cut(self.member_closes),
        )

    def membership_notes(self, report=None) -> list[str]:
        """One line per sector that lost members: how many of how many, who and why (from `report` when it
        says, e.g. a failed download or a missing file)."""
        return [m.note(report) for m in (self.membership or {}).values() if m.left_out]


@dataclass(frozen=True)
class SectorMembership:
    """A constituent sector's members: declared, used, and the ones left out with the reason."""

    sector: str
    declared: tuple[str, ...]
    left_out: dict[str, str]  # member -> why (no bars, too little history)

    @property
    def used(self) -> tuple[str, ...]:
        return tuple(m for m in self.declared if m not in self.left_out)

    @property
    def count(self) -> str:
        """`used/declared`, as reported next to the sector."""
        return f"{len(self.used)}/{len(self.declared)}"

    def note(self, report=None) -> str:
        def why(ticker: str) -> str:  # for a member with no bars, what the source said about it
            findings = report.findings if report is not None and self.left_out[ticker] == NO_BARS else []
            said = [
                f.detail for f in findings if f.ticker == ticker and (f.kind in NO_DATA_KINDS or f.action == "refused")
            ]
            return said[0] if said else self.left_out[ticker]

        shown = sorted(self.left_out)[:MEMBERS_NAMED]
        more = len(self.left_out) - len(shown)
        names = "; ".join(f"{t}: {why(t)}" for t in shown) + (f"; and {more} more" if more > 0 else "")
        return f"sector {self.sector}: {self.count} members used, left out {names}"


def _wide_numpy(
    bars: pd.DataFrame, codes: np.ndarray, uniques: pd.Index, tickers: list[str], row: np.ndarray, n_dates: int, fields
) -> dict[str, np.ndarray]:
    """Scatter tidy bars into (date x ticker) arrays in one pass, without pandas pivots.

    ``codes``/``uniques`` are the ticker column factorised once by the caller and mapped to
    columns here, so the cost does not grow with the number of tickers asked for; ``row`` is
    each bar's date position (-1 off the dates), also computed once (features.members.date_positions).
    """
    col = pd.Index(tickers).get_indexer(uniques)[codes]
    ok = (row >= 0) & (col >= 0)
    flat = row[ok] * len(tickers) + col[ok]  # one flat scatter index for every field
    out = {}
    for f in fields:
        arr = np.full(n_dates * len(tickers), np.nan)
        arr[flat] = bars[f].to_numpy(dtype="float64")[ok]
        out[f] = arr.reshape(n_dates, len(tickers))
    return out


def sector_panels(
    bars: pd.DataFrame, universe: Universe, max_fill: int = 5, config: FeatureConfig | None = None
) -> SectorPanels:
    """Build the aligned panels for a universe from tidy bars (features.bars).

    Constituent sectors are aggregated by features.members, in-process or on the Dask cluster
    that ``config.cluster`` (a FeatureConfig) names; both give the same bits."""
    from features.config import FeatureConfig

    cfg = config or FeatureConfig()
    codes, uniques = pd.factorize(bars["ticker"])  # once: the one pass over the ticker column
    uniques = pd.Index(uniques).astype(str)
    bench_code = uniques.get_indexer([universe.benchmark])[0]
    if bench_code < 0:
        raise DataError(f"benchmark {universe.benchmark!r} has no bars; tickers present: {sorted(uniques)[:20]}")
    bench_days = bars["date"].to_numpy(dtype="datetime64[ns]")[codes == bench_code]
    dates = pd.DatetimeIndex(np.unique(bench_days), name="date")
    keys = [s.key for s in universe.sectors]
    columns = pd.Index(keys, name="sector")
    present = set(uniques)
    ctx_names = [n for n, t in universe.context.items() if t in present]
    ctx_tickers = [universe.context[n] for n in ctx_names]
    constituents = universe.is_constituent_based
    sector_tickers = [] if constituents else list(dict.fromkeys(universe.sector_tickers()))
    everything = list(dict.fromkeys([*sector_tickers, universe.benchmark, *ctx_tickers]))
    row = date_positions(bars["date"].to_numpy(dtype="datetime64[ns]"), dates)
    wide = _wide_numpy(bars, codes, uniques, everything, row, len(dates), VALUE_COLUMNS)
    column = {t: i for i, t in enumerate(everything)}
    members, membership, member_closes = None, None, None
    if constituents:
        from features.distributed import aggregate_members

        arrays, total = aggregate_members(bars, codes, uniques, row, len(dates), universe, cfg)
        members = pd.DataFrame(arrays["members"].astype("int64"), index=dates, columns=columns)
        membership = {
            s.key: SectorMembership(s.name, s.members, {m: total.left_out[m] for m in s.members if m in total.left_out})
            for s in universe.sectors
        }
        member_tickers = list(dict.fromkeys(m for s in universe.sectors for m in s.members))
        closes = _wide_numpy(bars, codes, uniques, member_tickers, row, len(dates), ["close"])["close"]
        member_closes = _member_closes(closes, universe, member_tickers, dates, max_fill)
    else:
        arrays = {f: wide[f][:, [column[t] for t in sector_tickers]] for f in VALUE_COLUMNS}
    panels = {f: pd.DataFrame(arrays[f], index=dates, columns=columns) for f in VALUE_COLUMNS}
    # a sector missing a few sessions keeps its last price (volume 0), not a hole; "alive" looks
    # only backwards so that nothing on date t depends on whether the series resumes later
    alive = panels["close"].notna().cummax()
    for f in ("open", "high", "low", "close"):
        filled = panels[f].ffill(limit=max_fill) if max_fill > 0 else panels[f]
        panels[f] = filled.where(alive)
    panels["volume"] = panels["volume"].where(panels["volume"].notna() | ~alive, 0.0).where(alive)
    b = column[universe.benchmark]
    benchmark = pd.DataFrame({f: wide[f][:, b] for f in VALUE_COLUMNS}, index=dates)
    context = pd.DataFrame(wide["close"][:, [column[t] for t in ctx_tickers]], index=dates, columns=ctx_names)
    context = context.ffill(limit=max_fill) if max_fill > 0 else context
    return SectorPanels(
        **panels,
        benchmark=benchmark,
        context=context,
        names={s.key: s.name for s in universe.sectors},
        members=members,
        membership=membership,
        member_closes=member_closes,
    )


def _member_closes(
    close: np.ndarray, universe: Universe, tickers: list[str], dates: pd.DatetimeIndex, max_fill: int
) -> pd.DataFrame:
    """Members' closes, columns (sector key, ticker) in universe order; a short gap keeps the last close."""
    pos = {t: i for i, t in enumerate(tickers)}
    pairs = [(s.key, m) for s in universe.sectors for m in s.members]
    cols = pd.MultiIndex.from_tuples(pairs, names=["sector", "ticker"])
    out = pd.DataFrame(close[:, [pos[m] for _, m in pairs]], index=dates, columns=cols)
    return out.ffill(limit=max_fill) if max_fill > 0 else out
