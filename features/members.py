"""Sector indices from constituents, as a map over partitions of members and a reduction.

Why this shape: a universe of thousands of members is data-parallel over tickers. Each
partition (a fixed run of `partition` member slots) turns its members' bars into per-sector
partial sums (`member_partials`); the partials are added in partition order (`reduce_partials`)
and turned into index levels (`finish`). The in-process path and a Dask cluster
(features.distributed) run these same functions on the same partitions, so they agree to the
last bit: a partition never depends on the number of workers, sums never go through BLAS
(whose blocking may change with its thread count), and the reduction is one fixed left fold.

The index (divisor logic without a divisor): a member counts on day t only if it has closes on
t-1 and t (and, when it lists after the data starts, once it has min_sessions of them: seasoning),
and the sector's return that day is the weighted mean of those members' returns, so a listing, a
delisting or a dropped member never makes the level jump. Equal weight by default;
with cap weights (a market cap per member as of the constituents file's date) the member's
shares are taken as constant, weight_t = cap / last close * close_{t-1}: historical weights follow
historical prices instead of carrying today's winners back in time. High/low/open are the
weighted mean ratios to the close applied to the level; volume is dollar volume.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.bars import VALUE_COLUMNS
from features.universe import Universe

# the per-sector sums a partition contributes (each a (dates x sectors) float64 array)
SUMS = ("ret_num", "ret_den", "weight", "open", "high", "low", "dollar", "count")
START_LEVEL = 100.0
NS_PER_DAY = 86_400 * 10**9
NO_BARS = "no bars"  # why a member without a single bar on the benchmark's dates is left out


@dataclass(frozen=True)
class MemberBlock:
    """One partition's bars as flat arrays: what a worker receives (small to pickle, no pandas)."""

    tickers: tuple[str, ...]  # member slots in this partition, grouped by sector
    sector: np.ndarray  # (members,) int: sector column of each slot, non-decreasing
    weight: np.ndarray  # (members,) float: cap weight, NaN for equal weight
    row: np.ndarray  # (bars,) int: date position of each bar
    col: np.ndarray  # (bars,) int: slot of each bar
    values: tuple[np.ndarray, ...]  # per field (open, high, low, close, volume): (bars,) float64
    n_dates: int
    n_sectors: int
    min_sessions: int  # members with fewer closes are left out (named)


@dataclass
class Partials:
    """Per-sector sums of one partition (or of several, once reduced) and what happened to members."""

    sums: dict[str, np.ndarray]
    sessions: dict[str, int] = field(default_factory=dict)  # member -> sessions with a close
    left_out: dict[str, str] = field(default_factory=dict)  # member -> why it is not in its sector


def date_positions(day: np.ndarray, dates: pd.DatetimeIndex) -> np.ndarray:
    """Each bar's position in `dates` (sorted daily sessions), -1 when it is not one of them.

    A lookup table over the calendar days spanned, not a binary search: one gather per bar.
    """
    grid = dates.to_numpy(dtype="datetime64[ns]").view("int64")
    ns = np.asarray(day).astype("datetime64[ns]", copy=False).view("int64")
    if len(grid) == 0 or len(ns) == 0:
        return np.full(len(ns), -1, dtype=np.int64)
    span = int((grid[-1] - grid[0]) // NS_PER_DAY) + 1
    table = np.full(span + 1, -1, dtype=np.int64)  # the last slot answers every day outside the span
    table[(grid - grid[0]) // NS_PER_DAY] = np.arange(len(grid))
    offset = ns - grid[0]
    off_day = (offset % NS_PER_DAY) != 0  # a time of day other than midnight is no session date
    offset //= NS_PER_DAY  # whole days since the first session (integer floor), in place
    off_day |= (offset < 0) | (offset >= span)
    offset[off_day] = span
    return table[offset]  # one gather from a small table (cheaper than a binary search per bar)


def member_blocks(
    bars: pd.DataFrame,
    codes: np.ndarray,
    uniques: pd.Index,
    row: np.ndarray,
    n_dates: int,
    universe: Universe,
    partition: int,
    min_sessions: int,
) -> Iterator[MemberBlock]:
    """The universe's member slots in partitions of `partition`, each with its own bars.

    One pass over the bars: rows are grouped by ticker code once (a stable argsort), and a
    partition gathers its members' row ranges. Bars off the benchmark's dates (``row`` -1) are dropped.
    """
    slots = [(m, j, (s.weights or {}).get(m, np.nan)) for j, s in enumerate(universe.sectors) for m in s.members]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    code_of = pd.Index(uniques).get_indexer([t for t, _, _ in slots])
    columns = [bars[f].to_numpy(dtype="float64") for f in VALUE_COLUMNS]
    for lo in range(0, len(slots), partition):
        part = slots[lo : lo + partition]
        pieces = [order[bounds[c] : bounds[c + 1]] if c >= 0 else order[:0] for c in code_of[lo : lo + partition]]
        idx = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        col = np.repeat(np.arange(len(part)), [len(p) for p in pieces])
        keep = row[idx] >= 0
        idx, col = idx[keep], col[keep]
        yield MemberBlock(
            tickers=tuple(t for t, _, _ in part),
            sector=np.array([j for _, j, _ in part], dtype=np.int64),
            weight=np.array([w for _, _, w in part], dtype="float64"),
            row=row[idx].astype(np.int32),  # indices in 4 bytes: a quarter less to ship to a worker
            col=col.astype(np.int32),
            values=tuple(c[idx] for c in columns),
            n_dates=n_dates,
            n_sectors=len(universe.sectors),
            min_sessions=min_sessions,
        )


def member_partials(block: MemberBlock) -> Partials:
    """The per-sector sums of one partition (the map step; runs in-process or on a worker)."""
    T, n, S = block.n_dates, len(block.tickers), block.n_sectors
    dense = np.full((len(VALUE_COLUMNS), T, n), np.nan)
    for f in range(len(VALUE_COLUMNS)):
        dense[f][block.row, block.col] = block.values[f]
    open_, high, low, close, volume = dense
    listed = np.isfinite(close)
    sessions = listed.sum(axis=0)
    short = sessions < block.min_sessions  # never seasoned: left out, and named
    # Seasoning, decided day by day from the past only (so a later cut of the data changes nothing before
    # it): a member counts once it has min_sessions closes, unless it already trades on the first date
    # (its earlier history is simply not in the data).
    fresh = listed.any(axis=0) & ~listed[0] if T else np.zeros(n, dtype=bool)
    if block.min_sessions > 1 and fresh.any():
        seasoning = np.cumsum(listed[:, fresh], axis=0) < block.min_sessions
        close[:, fresh] = np.where(seasoning, np.nan, close[:, fresh])
    close[:, short] = np.nan  # no return, no weight, no count
    left_out = {
        t: (NO_BARS if k == 0 else f"only {int(k)} sessions of history (fewer than {block.min_sessions})")
        for t, k, s in zip(block.tickers, sessions, short)
        if s
    }
    have = np.isfinite(close)
    prev = np.vstack([np.full((1, n), np.nan), close[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = close / prev - 1.0
        live = np.isfinite(ret)
        if np.isnan(block.weight).all():  # equal weight
            w_prev = live.astype("float64")
            w_now = have.astype("float64")
        else:  # constant shares implied by today's caps: weight follows the member's own price
            last = _last_finite(close)
            shares = np.where(np.isfinite(block.weight) & (last > 0), block.weight / last, 0.0)
            w_prev = np.where(live, prev * shares, 0.0)
            w_now = np.where(have, close * shares, 0.0)
        member = {
            "ret_num": np.where(live, ret, 0.0) * w_prev,
            "ret_den": w_prev,
            "weight": w_now,
            "dollar": np.where(have, np.nan_to_num(volume) * close, 0.0),
            "count": have.astype("float64"),
        }
        for name, price in (("open", open_), ("high", high), ("low", low)):
            ratio = price / close
            member[name] = np.where(np.isfinite(ratio), ratio, 0.0) * w_now
    sums = {k: np.zeros((T, S)) for k in SUMS}
    cuts = np.flatnonzero(np.diff(block.sector)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, n]):  # slots are grouped by sector: sum contiguous columns
        j = block.sector[lo]
        for k in SUMS:
            sums[k][:, j] += member[k][:, lo:hi].sum(axis=1)
    return Partials(sums, dict(zip(block.tickers, (int(k) for k in sessions))), left_out)


def _last_finite(close: np.ndarray) -> np.ndarray:
    """Each column's last finite value (NaN when it has none)."""
    have = np.isfinite(close)
    last_row = close.shape[0] - 1 - np.argmax(have[::-1], axis=0)
    out = close[last_row, np.arange(close.shape[1])]
    return np.where(have.any(axis=0), out, np.nan)


def reduce_partials(*parts: Partials) -> Partials:
    """Add partials in the order given (the reduction; a fixed left fold, so always the same bits)."""
    first = parts[0]
    out = Partials({k: first.sums[k].copy() for k in SUMS}, dict(first.sessions), dict(first.left_out))
    for p in parts[1:]:
        for k in SUMS:
            out.sums[k] += p.sums[k]
        out.sessions.update(p.sessions)
        out.left_out.update(p.left_out)
    return out


def finish(total: Partials) -> dict[str, np.ndarray]:
    """Index levels (open..volume) and the members counted each day, from the reduced sums."""
    s = total.sums
    den = s["ret_den"]
    sret = np.where(den > 0, s["ret_num"] / np.where(den > 0, den, 1.0), np.nan)
    has_close = s["count"] > 0
    level = np.full(sret.shape, np.nan)
    for j in range(sret.shape[1]):  # per sector, vectorised over time
        started = np.flatnonzero(has_close[:, j])
        if started.size == 0:
            continue
        first = started[0]
        growth = np.nan_to_num(sret[first + 1 :, j], nan=0.0)
        level[first, j] = START_LEVEL
        level[first + 1 :, j] = START_LEVEL * np.cumprod(1.0 + growth)
        level[~has_close[:, j], j] = np.nan
    out = {"close": level, "members": s["count"]}
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(s["weight"] > 0, s["weight"], np.nan)
        for f in ("open", "high", "low"):
            out[f] = level * (s[f] / weight)
    out["volume"] = np.where(has_close, s["dollar"], np.nan)
    return out


def aggregate_in_process(blocks) -> Partials:
    """Map and reduce on this machine, one partition at a time (bounded memory)."""
    total: Partials | None = None
    for block in blocks:
        part = member_partials(block)
        total = part if total is None else reduce_partials(total, part)
    assert total is not None, "a constituent universe has at least one member"
    return total
