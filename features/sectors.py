"""Sector series: one (date x sector) panel per field, from ETFs directly or aggregated from members.

Everything downstream (features, labels, matrix) works on these panels, aligned to the
benchmark's trading dates, so a sector that starts late (XLC 2018) is simply NaN before it lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.bars import VALUE_COLUMNS
from features.errors import DataError, RequestError
from features.universe import Universe


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
    # constituent universes only: members' closes, date x (sector, ticker) columns, forward-filled like the
    # sector closes (features/breadth.py reads them); None for a universe of one series per sector
    members: pd.DataFrame | None = None

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
        members = None if self.members is None else cut(self.members)
        return SectorPanels(
            **fields, benchmark=cut(self.benchmark), context=cut(self.context), names=dict(self.names), members=members
        )


def _wide_numpy(
    bars: pd.DataFrame, codes: np.ndarray, uniques: pd.Index, tickers: list[str], dates: pd.DatetimeIndex, fields
) -> dict[str, np.ndarray]:
    """Scatter tidy bars into (date x ticker) arrays in one pass, without pandas pivots.

    ``codes``/``uniques`` are the ticker column factorised once by the caller and mapped to
    columns here, so the cost does not grow with the number of tickers asked for.
    """
    col = pd.Index(tickers).get_indexer(uniques)[codes]
    day = bars["date"].to_numpy(dtype="datetime64[ns]")
    grid = dates.to_numpy(dtype="datetime64[ns]")
    row = np.searchsorted(grid, day).clip(max=len(grid) - 1)
    ok = (grid[row] == day) & (col >= 0)
    flat = row[ok] * len(tickers) + col[ok]  # one flat scatter index for every field
    out = {}
    for f in fields:
        arr = np.full(len(dates) * len(tickers), np.nan)
        arr[flat] = bars[f].to_numpy(dtype="float64")[ok]
        out[f] = arr.reshape(len(dates), len(tickers))
    return out


def _aggregate_members(arr: dict[str, np.ndarray], universe: Universe, members: list[str]) -> dict[str, np.ndarray]:
    """Equal- (or cap-) weighted sector index from members' daily returns.

    A member counts on day t only if it has closes on t-1 and t, so listings and delistings
    inside the window neither jump the index nor leave it stale. High/low/open are the
    members' weighted ratios to their close applied to the index level; volume is dollar volume.
    """
    close = arr["close"]
    prev = np.vstack([np.full((1, close.shape[1]), np.nan), close[:-1]])
    ret = close / prev - 1.0
    live = np.isfinite(ret)
    pos = {t: i for i, t in enumerate(members)}
    k = len(universe.sectors)
    weights = np.zeros((len(members), k))
    for j, s in enumerate(universe.sectors):
        for m in s.members:
            weights[pos[m], j] = (s.weights or {}).get(m, 1.0)
    wsum = live.astype("float64") @ weights
    sret = np.where(wsum > 0, np.where(live, ret, 0.0) @ weights / np.where(wsum > 0, wsum, 1.0), np.nan)
    have = np.isfinite(close)
    denom = have.astype("float64") @ weights  # weight of the members with a close that day
    has_close = denom > 0
    level = np.full(sret.shape, np.nan)
    for j in range(k):  # k sectors, vectorised over time
        started = np.flatnonzero(has_close[:, j])
        if started.size == 0:
            continue
        first = started[0]
        growth = np.nan_to_num(sret[first + 1 :, j], nan=0.0)
        level[first, j] = 100.0
        level[first + 1 :, j] = 100.0 * np.cumprod(1.0 + growth)
        level[~has_close[:, j], j] = np.nan
    out = {"close": level}
    with np.errstate(invalid="ignore", divide="ignore"):
        for f in ("open", "high", "low"):
            ratio = arr[f] / close
            ok = np.isfinite(ratio)
            mean_ratio = np.where(ok, ratio, 0.0) @ weights / np.where(denom > 0, denom, np.nan)
            out[f] = level * mean_ratio
        dollar = np.where(have, np.nan_to_num(arr["volume"]) * close, 0.0)
        out["volume"] = np.where(denom > 0, dollar @ (weights > 0).astype("float64"), np.nan)
    return out


def sector_panels(bars: pd.DataFrame, universe: Universe, max_fill: int = 5) -> SectorPanels:
    """Build the aligned panels for a universe from tidy bars (features.bars)."""
    codes, uniques = pd.factorize(bars["ticker"])  # once: the one pass over the ticker column
    uniques = pd.Index(uniques).astype(str)
    bench_code = uniques.get_indexer([universe.benchmark])[0]
    if bench_code < 0:
        raise DataError(f"benchmark {universe.benchmark!r} has no bars; tickers present: {sorted(uniques)[:20]}")
    bench_days = bars["date"].to_numpy(dtype="datetime64[ns]")[codes == bench_code]
    dates = pd.DatetimeIndex(np.unique(bench_days), name="date")
    keys = [s.key for s in universe.sectors]
    sector_tickers = list(dict.fromkeys(universe.sector_tickers()))
    present = set(uniques)
    ctx_names = [n for n, t in universe.context.items() if t in present]
    ctx_tickers = [universe.context[n] for n in ctx_names]
    everything = list(dict.fromkeys([*sector_tickers, universe.benchmark, *ctx_tickers]))
    wide = _wide_numpy(bars, codes, uniques, everything, dates, VALUE_COLUMNS)
    column = {t: i for i, t in enumerate(everything)}
    sector_cols = [column[t] for t in sector_tickers]
    arrays = {f: wide[f][:, sector_cols] for f in VALUE_COLUMNS}
    members = None
    if universe.is_constituent_based:
        members = _member_closes(arrays["close"], universe, sector_tickers, dates, max_fill)
        arrays = _aggregate_members(arrays, universe, sector_tickers)
    panels = {f: pd.DataFrame(arrays[f], index=dates, columns=pd.Index(keys, name="sector")) for f in VALUE_COLUMNS}
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
