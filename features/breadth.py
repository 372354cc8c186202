"""Sector breadth and drill-down: how many of a sector's members take part in its move.

Two uses of the same member counts (SectorPanels.members, constituent universes only):

* a feature block (`breadth_features`, registered in features/registry.py): per date and sector the
  share of members above their 50- and 200-day averages, net advancers over each return window and
  net new 52-week highs. Every count on date t uses members' closes up to t only (trailing windows).
* `sector_drilldown`: one sector on one session: those figures, concentration (weight of the top 5
  members), each member's return against the sector and the benchmark, and the top and bottom
  contributors to the sector's move. For a universe of one series per sector (ETFs) it answers the
  sector's own figures and says that no members are loaded.

Counts are hand-written (not TA-Lib): breadth is a count of member conditions, which no indicator
library computes across a cross-section; the per-member averages are pandas rolling means.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.dataset import MarketDataset
from features.errors import DataError, RequestError
from features.momentum import relative_total_return
from features.sectors import SectorPanels
from features.stock import pct

NET_HIGHS = "breadth_net_highs_52w"
TOP_N = 5  # concentration: weight of the top 5 members; contributors: top and bottom 5
BREADTH_NOTE = (
    "breadth counts members with a price that session; averages and 52-week highs/lows need a full window "
    "(members listed for less are not counted); new highs/lows are on closes"
)
CONTRIBUTION_RULE = (
    "contribution = member weight at the start of the window (static universe weights, or equal, renormalised "
    "over the members priced at both ends) x member return over the window, pp; the sum approximates the "
    "sector's move (the sector index is rebalanced daily)"
)


def above_sma(window: int) -> str:
    """Column of the share of members above their `window`-session average."""
    return f"breadth_above_sma{window}"


def net_advancers(window: str) -> str:
    """Column of (advancers - decliners) / members over a named return window (e.g. '1M')."""
    return f"breadth_net_adv_{window.lower()}"


def breadth_columns(cfg: FeatureConfig) -> list[str]:
    return [
        *(above_sma(w) for w in cfg.trend_windows),
        *(net_advancers(n) for n in cfg.return_windows),
        NET_HIGHS,
    ]


def _groups(members: pd.DataFrame, sectors: list[str]) -> list[slice | None]:
    """Per sector, its members' column slice (contiguous: the columns are in universe order); None if none."""
    of = np.asarray(members.columns.get_level_values("sector"))
    out: list[slice | None] = []
    for key in sectors:
        idx = np.flatnonzero(of == key)
        out.append(slice(int(idx[0]), int(idx[-1]) + 1) if idx.size else None)
    return out


def _window_sums(csum: np.ndarray, w: int) -> np.ndarray:
    """Sums over the last `w` rows from a cumulative sum along the rows (the first w-1 rows: partial sums)."""
    out = csum.copy()
    out[w:] -= csum[: len(csum) - w]
    return out


def _trailing_extremes(c: np.ndarray, have: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(max, min) of the last `w` closes: scipy's running max/min (van Herk), shifted to trail."""
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    origin = (w - 1) // 2  # the window [t - w + 1, t]: nothing after t
    hi = maximum_filter1d(np.where(have, c, -np.inf), w, axis=0, mode="nearest", origin=origin)
    lo = minimum_filter1d(np.where(have, c, np.inf), w, axis=0, mode="nearest", origin=origin)
    return hi, lo


def member_conditions(close: pd.DataFrame, cfg: FeatureConfig) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Per breadth column: (name, condition, eligible), (date x member) arrays, one column at a time (the
    scale case holds 2,000 members: all at once would be ~10 arrays of 80 MB).

    For `above_sma` columns the condition is boolean; for net columns it is the sign (+1, -1, 0) as int8."""
    c = close.to_numpy(dtype="float64")
    have = np.isfinite(c)
    # trailing means and "a price every session of the window" from two cumulative sums, shared by every window:
    # one pass for 2,000 members instead of a rolling object per column (pandas' rolling(w, min_periods=w))
    count = np.cumsum(have, axis=0, dtype=np.int32)
    total = np.cumsum(np.where(have, c, 0.0), axis=0)
    with np.errstate(invalid="ignore"):
        for w in cfg.trend_windows:
            ok = have & (_window_sums(count, w) == w)
            sma = _window_sums(total, w) / w
            yield above_sma(w), ok & (c > sma), ok
        for name, w in cfg.return_windows.items():
            up, down, ok = (np.zeros(c.shape, dtype=bool) for _ in range(3))
            now, before = c[w:], c[: max(len(c) - w, 0)]
            np.greater(now, before, out=up[w:])  # NaN on either side compares False
            np.less(now, before, out=down[w:])
            np.logical_and(have[w:], have[: max(len(c) - w, 0)], out=ok[w:])
            yield net_advancers(name), up.view(np.int8) - down.view(np.int8), ok
        year = cfg.sessions_per_year
        hi, lo = _trailing_extremes(c, have, year)
        ok = have & (_window_sums(count, year) == year)
        yield NET_HIGHS, (ok & (c >= hi)).astype(np.int8) - (ok & (c <= lo)).astype(np.int8), ok


def breadth_features(p: SectorPanels, cfg: FeatureConfig) -> dict[str, pd.DataFrame]:
    """The breadth block: (date x sector) panels from members' closes up to each date."""
    if p.member_closes is None:
        raise DataError("breadth: these panels hold no members (a universe of one series per sector)")
    groups = _groups(p.member_closes, p.sectors)
    zero = np.zeros(len(p.dates), dtype=np.int32)
    out = {}
    for col, cond, ok in member_conditions(p.member_closes, cfg):
        n = np.stack([zero if g is None else ok[:, g].sum(axis=1, dtype=np.int32) for g in groups], axis=1)
        k = np.stack([zero if g is None else cond[:, g].sum(axis=1, dtype=np.int32) for g in groups], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)  # net columns: (up - down) / eligible
        out[col] = pd.DataFrame(values, index=p.dates, columns=p.close.columns)
    return out


# ---- one sector on one session ---------------------------------------------------------------
def find_sector(ds: MarketDataset, sector: str) -> str:
    """The sector key for a name or key (any case); a RequestError naming the valid ones otherwise."""
    if isinstance(sector, str):
        want = sector.strip().casefold()
        for s in ds.universe.sectors:
            if want in (s.key.casefold(), s.name.casefold()):
                return s.key
    valid = ", ".join(f"{s.key}" if s.key == s.name else f"{s.key} ({s.name})" for s in ds.universe.sectors)
    raise RequestError(f"sector: unknown {str(sector)[:40]!r}; universe {ds.universe.name!r} has {valid}")


def _ret(series: pd.Series, pos: int, window: int) -> float:
    """Simple return over `window` sessions ending at `pos` (NaN when either end is missing)."""
    if pos - window < 0:
        return float("nan")
    a, b = float(series.iloc[pos - window]), float(series.iloc[pos])
    return b / a - 1.0 if a > 0 and np.isfinite(a) and np.isfinite(b) else float("nan")


def _share_or_none(x) -> float | None:
    x = float(x)
    return round(x, 4) if np.isfinite(x) else None


def sector_drilldown(ds: MarketDataset, sector: str, timeframe: str, as_of=None) -> dict:
    """One sector on the session at `as_of`: its move over `timeframe`, breadth, concentration, members.

    Pure and causal: only closes up to that session are read."""
    key = find_sector(ds, sector)
    if timeframe not in ds.config.return_windows:
        raise RequestError(f"timeframe: unknown {timeframe!r}; expected one of {', '.join(ds.config.return_windows)}")
    p, cfg = ds.panels, ds.config
    pos = p.session_at(as_of)
    day = p.dates[pos]
    window = cfg.return_windows[timeframe]
    sec = next(s for s in ds.universe.sectors if s.key == key)
    bench = p.benchmark["close"]
    sector_ret, bench_ret = _ret(p.close[key], pos, window), _ret(bench, pos, window)
    own = p.close[key].iloc[: pos + 1]
    trend = {
        str(w): own.iloc[-1] > own.iloc[-w:].mean() if len(own) >= w and own.iloc[-w:].notna().all() else None
        for w in cfg.trend_windows
    }
    out: dict = {
        "universe": ds.universe.name,
        "benchmark": ds.universe.benchmark,
        "data_source": ds.source.label,
        "is_demo": ds.source.synthetic,
        "as_of": day.date().isoformat(),
        "timeframe": timeframe,
        "window_sessions": window,
        "sector": {
            "name": p.names.get(key, key),
            "ticker": key,
            "cohort": ds.universe.cohort_of(key),
            "listed": bool(np.isfinite(p.close[key].iloc[pos])),
            "return_pct": pct(sector_ret),
            "benchmark_return_pct": pct(bench_ret),
            "rel_return_pp": pct(relative_total_return(p.close[[key]], bench, window)[key].iloc[pos]),
            "above_sma": {w: (None if v is None else bool(v)) for w, v in trend.items()},
        },
        "members_loaded": p.member_closes is not None,
    }
    if p.member_closes is None or not sec.members:
        return {
            **out,
            "note": f"{key} is one series (an ETF): no members are loaded for this universe, so there is no "
            "breadth, concentration or member list; the figures above are the sector's own",
            "breadth": None,
            "concentration": None,
            "members": [],
            "top_contributors": [],
            "bottom_contributors": [],
        }
    return {**out, **_member_figures(ds, key, pos, timeframe, sector_ret, bench_ret), "note": BREADTH_NOTE}


def _member_figures(ds: MarketDataset, key: str, pos: int, timeframe: str, sector_ret: float, bench_ret: float) -> dict:
    p, cfg = ds.panels, ds.config
    window = cfg.return_windows[timeframe]
    assert p.member_closes is not None
    # (date x ticker) up to the session, nothing later; only the longest window's tail is needed
    longest = max([*cfg.trend_windows, *cfg.return_windows.values(), cfg.sessions_per_year]) + 1
    close = p.member_closes[key].iloc[max(0, pos + 1 - longest) : pos + 1]
    tickers = list(close.columns)
    conds = {col: (cond, ok) for col, cond, ok in member_conditions(close, cfg)}  # (a year and a bit of rows)

    def share(col: str) -> dict:
        c, e = conds[col][0][-1], conds[col][1][-1]
        n = int(e.sum())
        return {"share": _share_or_none(c[e].astype("float64").mean() if n else np.nan), "of": n}

    def net(col: str) -> dict:
        c, e = conds[col][0][-1], conds[col][1][-1]
        n, up, down = int(e.sum()), int((c[e] > 0).sum()), int((c[e] < 0).sum())
        return {"up": up, "down": down, "of": n, "net_share": _share_or_none((up - down) / n if n else np.nan)}

    breadth = {
        "members": len(tickers),
        "priced": int(close.iloc[-1].notna().sum()),
        "above_sma": {str(w): share(above_sma(w)) for w in cfg.trend_windows},
        "advance_decline": net(net_advancers(timeframe)),
        "new_highs_lows_52w": net(NET_HIGHS),
    }
    sec = next(s for s in ds.universe.sectors if s.key == key)
    base = np.array([(sec.weights or {}).get(t, 1.0) for t in tickers])
    now = close.iloc[-1].to_numpy(dtype="float64")
    start = close.iloc[-1 - window].to_numpy(dtype="float64") if len(close) > window else np.full(len(tickers), np.nan)
    live_now = np.isfinite(now)
    w_now = np.where(live_now, base, 0.0)
    w_now = w_now / w_now.sum() if w_now.sum() > 0 else w_now
    top = np.sort(w_now)[::-1][:TOP_N]
    both = live_now & np.isfinite(start) & (start > 0)
    ret = np.where(both, now / np.where(both, start, 1.0) - 1.0, np.nan)
    w_start = np.where(both, base, 0.0)
    w_start = w_start / w_start.sum() if w_start.sum() > 0 else w_start
    contrib = np.where(both, w_start * ret, np.nan)
    above = {w: conds[above_sma(w)] for w in cfg.trend_windows}
    hi_lo = conds[NET_HIGHS][0][-1]
    members = []
    for i, t in enumerate(tickers):
        members.append(
            {
                "ticker": t,
                "weight": _share_or_none(w_now[i]) if live_now[i] else None,
                "return_pct": pct(ret[i]),
                "vs_sector_pp": pct(ret[i] - sector_ret),
                "vs_benchmark_pp": pct(ret[i] - bench_ret),
                "contribution_pp": pct(contrib[i]),
                "above_sma": {str(w): bool(c[-1][i]) if e[-1][i] else None for w, (c, e) in above.items()},
                "new_high_52w": bool(hi_lo[i] > 0),
                "new_low_52w": bool(hi_lo[i] < 0),
            }
        )
    members.sort(key=lambda r: (r["contribution_pp"] is None, -(r["contribution_pp"] or 0.0), r["ticker"]))
    ranked = [r for r in members if r["contribution_pp"] is not None]
    return {
        "breadth": breadth,
        "concentration": {
            "top_n": TOP_N,
            "top_weight": _share_or_none(top.sum()) if live_now.any() else None,
            "weights": "static universe weights" if sec.weights else "equal weight",
            "priced_members": int(live_now.sum()),
        },
        "contribution_rule": CONTRIBUTION_RULE,
        "contribution_sum_pp": pct(np.nansum(contrib)) if both.any() else None,
        "members": members,
        "top_contributors": [r["ticker"] for r in ranked[:TOP_N]],
        "bottom_contributors": [r["ticker"] for r in ranked[::-1][:TOP_N]],
    }
