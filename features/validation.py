"""Validate and repair raw daily bars, so every source hands downstream the same clean shape.

Real dumps are messy (appended blocks, stray headers, unadjusted splits, holes). Each check
here either repairs what can be repaired safely or drops/refuses what cannot, and says so in
the ValidationReport with ticker, file, row and date: a repair is never silent. What cannot
be told from a real market move (small adjustment steps where appended blocks meet) is left
alone on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.bars import PRICE_COLUMNS, VALUE_COLUMNS, empty_bars, tidy_bars
from features.calendar import sessions
from features.findings import DataValidationError, Finding, ValidationReport


@dataclass(frozen=True)
class ValidationConfig:
    """Tunables of the checks; the defaults are deliberately conservative."""

    # (new shares, old shares): 2:1 halves the price; the reverse splits are checked too.
    split_ratios: tuple[tuple[int, int], ...] = ((2, 1), (3, 1), (3, 2), (4, 1), (5, 1), (10, 1))
    split_tolerance: float = 0.03  # |log(close ratio) - log(split ratio)| to call it a split
    split_max_market_move: float = 0.10  # |log market move| the same day; above: a real crash
    # The jump must also be exceptional for this series: |jump| >= this many robust daily
    # standard deviations (median |return| x 1.4826, over split_vol_window rows either side).
    split_min_sigmas: float = 10.0
    split_vol_window: int = 60
    # Symbols that never split (yfinance conventions: ^indices incl. VIX and yields, =F
    # futures, =X currencies); their big jumps are market moves, not corporate actions.
    split_exempt_prefixes: tuple[str, ...] = ("^",)
    split_exempt_suffixes: tuple[str, ...] = ("=F", "=X")
    duplicate_tolerance: float = 0.01  # duplicates whose closes differ by more "disagree"
    range_tolerance: float = 1e-6  # relative; close/open beyond [low, high] by less is round-off
    stale_sessions: int = 10  # a series ending more sessions than this before the newest is stale
    rows_listed: int = 5  # up to this many findings per (ticker, check), one per row; else one summary
    rows_in_summary: int = 10  # row numbers quoted in a summary finding


DEFAULT_CONFIG = ValidationConfig()
MAD_TO_SD = 1.4826  # median |x| of a normal sample x 1.4826 = its standard deviation


def _iso(day) -> str | None:
    return None if day is None or pd.isna(day) else pd.Timestamp(day).strftime("%Y-%m-%d")


def _row(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def emit_rows(
    report: ValidationReport,
    ticker: str,
    where: str,
    kind: str,
    action: str,
    rows: Sequence,
    dates: Sequence,
    details: Sequence[str],
    summary: str,
    limit: int = DEFAULT_CONFIG.rows_listed,
    quoted: int = DEFAULT_CONFIG.rows_in_summary,
) -> None:
    """Report one finding per affected row, or one summary finding when there are many.

    The summary carries the first row/date and quotes the first row numbers (or dates),
    so a file with 400 settle-price quirks yields one readable line, not 400.
    """
    rows, dates = list(rows), list(dates)
    n = len(details)
    if n == 0:
        return
    if n <= limit:
        for r, d, text in zip(rows, dates, details):
            report.add(Finding(ticker, kind, action, text, where, _row(r), _iso(d)))
        return
    have_rows = any(_row(r) is not None for r in rows)
    labels = [str(_row(r)) for r in rows[:quoted]] if have_rows else [str(_iso(d)) for d in dates[:quoted]]
    more = ", ..." if n > quoted else ""
    text = f"{n} rows: {summary} ({'rows' if have_rows else 'dates'} {', '.join(labels)}{more}); first: {details[0]}"
    report.add(Finding(ticker, kind, action, text, where, _row(rows[0]), _iso(dates[0])))


class _Checker:
    """Per-ticker checks sharing the report, the file name and the config."""

    def __init__(self, report: ValidationReport, ticker: str, where: str, cfg: ValidationConfig):
        self.report, self.ticker, self.where, self.cfg = report, ticker, where, cfg

    def emit(self, kind: str, action: str, df: pd.DataFrame, mask, details, summary: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            emit_rows(
                self.report,
                self.ticker,
                self.where,
                kind,
                action,
                df["row"].to_numpy()[mask],
                df["date"].to_numpy()[mask],
                details,
                summary,
                self.cfg.rows_listed,
                self.cfg.rows_in_summary,
            )

    def note(self, kind: str, action: str, detail: str, row=None, date=None) -> None:
        self.report.add(Finding(self.ticker, kind, action, detail, self.where, _row(row), _iso(date)))


def _coerce(df: pd.DataFrame) -> pd.DataFrame:
    """Columns date (naive day), open..volume (float, non-finite -> NaN), row (nullable int)."""
    n = len(df)
    dates = df["date"] if "date" in df else pd.Series(pd.NaT, index=df.index)
    if dates.dtype.kind != "M" or getattr(dates.dt, "tz", None) is not None:
        dates = pd.to_datetime(dates, errors="coerce")
        if dates.dt.tz is not None:
            dates = dates.dt.tz_localize(None)
    cols = {"date": dates.to_numpy().astype("datetime64[D]").astype("datetime64[ns]")}  # floor to the day
    for col in VALUE_COLUMNS:
        values = (
            pd.to_numeric(df[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            if col in df
            else np.full(n, np.nan)
        )
        cols[col] = np.where(np.isfinite(values), values, np.nan)
    cols["row"] = pd.array(df["row"].to_numpy() if "row" in df else [pd.NA] * n, dtype="Int64")
    return pd.DataFrame(cols)


def _fmt(x: float) -> str:
    return "NaN" if pd.isna(x) else f"{x:.6g}"


def _drop_undated(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """A row without a date cannot be placed on the calendar, so it is dropped."""
    bad = df["date"].isna().to_numpy()
    chk.emit(
        "unparsable_row",
        "dropped",
        df,
        bad,
        ["date missing or not a date"] * int(bad.sum()),
        "date missing or not a date",
    )
    return df[~bad]


def _cut_after(df: pd.DataFrame, as_of) -> pd.DataFrame:
    """Rows after ``as_of`` go silently: a point-in-time view the caller asked for, not a data problem."""
    return df if as_of is None else df[df["date"] <= pd.Timestamp(as_of).normalize()]


def _drop_duplicate_dates(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """Appended blocks repeat dates: the LAST occurrence in file order wins, being the newer download."""
    dup = df.duplicated("date", keep="last").to_numpy()
    if not dup.any():
        return df
    tolerance = chk.cfg.duplicate_tolerance
    kept = df[~dup].set_index("date")
    gone = df[dup]
    kept_close = kept["close"].reindex(gone["date"]).to_numpy()
    kept_row = kept["row"].reindex(gone["date"]).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(gone["close"].to_numpy() / kept_close - 1.0)
    material = diff > tolerance
    details = [
        f"same date as row {_row(kr)} which is kept (later rows are newer downloads); "
        f"close {_fmt(c)} vs kept {_fmt(k)}" + (f", DISAGREES by {d:.1%}" if m else "")
        for kr, c, k, d, m in zip(kept_row, gone["close"], kept_close, diff, material)
    ]
    chk.emit("duplicate_date", "dropped", df, dup, details, "duplicate date, earlier occurrence dropped")
    if material.any():
        worst = int(np.nanargmax(np.where(material, diff, -1.0)))
        chk.note(
            "duplicate_conflict",
            "noted",
            f"{int(material.sum())} duplicated date(s) disagree on close by more than "
            f"{tolerance:.0%}; worst {diff[worst]:.1%}: row {_row(gone['row'].iloc[worst])} "
            f"{_fmt(gone['close'].iloc[worst])} (dropped) vs row {_row(kept_row[worst])} "
            f"{_fmt(kept_close[worst])} (kept)",
            gone["row"].iloc[worst],
            gone["date"].iloc[worst],
        )
    return df[~dup]


def _sort_dates(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """Appended blocks can be dated before the rows above them; a row is late when an earlier row is later."""
    dates = df["date"].to_numpy()
    if len(dates) < 2:
        return df
    prev_max = np.maximum.accumulate(dates)[:-1]
    late = np.r_[False, dates[1:] < prev_max]
    if not late.any():
        return df
    chk.emit(
        "unsorted",
        "repaired",
        df,
        late,
        [f"dated before an earlier row's {_iso(p)}; rows sorted by date" for p in prev_max[late[1:]]],
        "dates out of order; rows sorted by date",
    )
    return df.sort_values("date", kind="stable")


def _drop_missing_close(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """Close is the one price we cannot invent, so a row without one is dropped."""
    missing = df["close"].isna().to_numpy()
    chk.emit(
        "missing_price",
        "dropped",
        df,
        missing,
        ["close missing or not a number"] * int(missing.sum()),
        "close missing or not a number",
    )
    return df[~missing]


def _drop_nonpositive_close(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """A close <= 0 is no price at all (and breaks log returns); like a missing one it cannot be invented."""
    close = df["close"].to_numpy()
    nonpos = close <= 0
    chk.emit("nonpositive_price", "dropped", df, nonpos, [f"close {_fmt(c)} <= 0" for c in close[nonpos]], "close <= 0")
    return df[~nonpos]


def _rebuild_open_high_low(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """Open/high/low missing or <= 0 can be rebuilt from the close (and each other) instead of losing the day."""
    old = {k: df[k].to_numpy() for k in ("open", "high", "low")}
    bad = {k: ~(v > 0) for k, v in old.items()}  # NaN or <= 0
    fixed = bad["open"] | bad["high"] | bad["low"]
    if not fixed.any():
        return df
    c = df["close"].to_numpy()
    new = {"open": np.where(bad["open"], c, old["open"])}
    new["high"] = np.where(bad["high"], np.maximum(new["open"], c), old["high"])
    new["low"] = np.where(bad["low"], np.minimum(new["open"], c), old["low"])
    details = []
    for i in np.flatnonzero(fixed):
        names = [k for k in new if bad[k][i]]
        was = ", ".join(f"{k} {_fmt(old[k][i])}" for k in names)
        now = ", ".join(f"{k}={_fmt(new[k][i])}" for k in names)
        details.append(f"{was} invalid (missing or <= 0); rebuilt from open/close: {now}")
    chk.emit("missing_ohl", "repaired", df, fixed, details, "open/high/low missing or <= 0, rebuilt from close")
    return df.assign(**new)


def _swap_high_low(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """High below low means the two columns were swapped; swapping back loses nothing."""
    h, l = df["high"].to_numpy(), df["low"].to_numpy()
    swap = h < l
    if not swap.any():
        return df
    chk.emit(
        "high_below_low",
        "repaired",
        df,
        swap,
        [f"high {_fmt(a)} < low {_fmt(b)}; swapped" for a, b in zip(h[swap], l[swap])],
        "high < low, swapped",
    )
    return df.assign(high=np.where(swap, l, h), low=np.where(swap, h, l))


def _widen_range(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """Close and open are traded prices, so [low, high] is widened to include them rather than the reverse.

    Only a miss beyond ``range_tolerance`` is reported; float round-off below it (e.g. close
    11.601027488708496 vs high ...494 in the real files) is noise, absorbed without a finding.
    """
    o, h, l, c = (df[k].to_numpy() for k in PRICE_COLUMNS)
    tol = chk.cfg.range_tolerance
    for name, x in (("close", c), ("open", o)):
        out = (x > h * (1 + tol)) | (x < l * (1 - tol))
        if out.any():
            chk.emit(
                f"{name}_outside_range",
                "repaired",
                df,
                out,
                [
                    f"{name} {_fmt(v)} outside [low {_fmt(a)}, high {_fmt(b)}]; range widened to include it"
                    for v, a, b in zip(x[out], l[out], h[out])
                ],
                f"{name} outside [low, high], range widened",
            )
    return df.assign(high=np.maximum(h, np.maximum(c, o)), low=np.minimum(l, np.minimum(c, o)))


def _blank_negative_volume(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    """A negative volume is impossible but says nothing about the prices: it becomes missing, the row stays."""
    vol = df["volume"].to_numpy(copy=True)
    neg = vol < 0
    chk.emit(
        "negative_volume",
        "repaired",
        df,
        neg,
        [f"volume {_fmt(v)} < 0; set to missing" for v in vol[neg]],
        "volume < 0, set to missing",
    )
    vol[neg] = np.nan
    return df.assign(volume=vol)


def _clean_one(df: pd.DataFrame, chk: _Checker, as_of) -> pd.DataFrame:
    """Row-level checks of one ticker, in an order that matters: dates first, then prices, then volume."""
    df = _drop_undated(_coerce(df), chk)
    df = _cut_after(df, as_of)
    df = _drop_duplicate_dates(df, chk)
    df = _sort_dates(df, chk)
    df = _drop_missing_close(df, chk)
    df = _drop_nonpositive_close(df, chk)
    df = _rebuild_open_high_low(df, chk)  # needs a valid close
    df = _swap_high_low(df, chk)
    df = _widen_range(df, chk)  # after the swap, so a swapped pair is not also reported as out of range
    return _blank_negative_volume(df, chk)


def _calendar_checks(
    frames: dict[str, pd.DataFrame], checkers: dict[str, _Checker], calendar: str
) -> tuple[np.ndarray, dict[str, int]]:
    """Drop rows on non-sessions and note gaps (never filled: no invented bars).

    Returns the sessions spanned by all series and each series' last session position.
    """
    lo = min(f["date"].iloc[0] for f in frames.values())
    hi = max(f["date"].iloc[-1] for f in frames.values())
    days = sessions(calendar, lo, hi).to_numpy()
    last: dict[str, int] = {}
    if len(days) == 0:
        return days, last
    for ticker, df in list(frames.items()):
        chk = checkers[ticker]
        d = df["date"].to_numpy()
        judged = (d >= days[0]) & (d <= days[-1])  # outside the calendar's bounds we cannot tell
        pos = np.searchsorted(days, d)
        on = judged & (pos < len(days)) & (days[np.minimum(pos, len(days) - 1)] == d)
        off = judged & ~on
        if off.any():
            chk.emit(
                "non_session",
                "dropped",
                df,
                off,
                [f"{pd.Timestamp(x):%a %Y-%m-%d} is not a {calendar} session" for x in d[off]],
                f"not a {calendar} session",
            )
            df = frames[ticker] = df[~off]
            d, pos, on = d[~off], pos[~off], on[~off]
        p = pos[on]
        if len(p) == 0:
            continue
        last[ticker] = int(p[-1])
        holes = np.diff(p) - 1
        missing = int(holes.sum())
        if missing:
            k = int(np.argmax(holes))
            chk.note(
                "calendar_gap",
                "noted",
                f"{missing} {calendar} session(s) missing between {_iso(days[p[0]])} and {_iso(days[p[-1]])}; "
                f"largest gap {int(holes[k])} session(s) from {_iso(days[p[k] + 1])} to "
                f"{_iso(days[p[k + 1] - 1])}; not filled",
                None,
                days[p[k] + 1],
            )
    return days, last


def _market_level(frames: dict[str, pd.DataFrame], benchmark: str | None) -> pd.Series:
    """Log level of 'the market' by date: the benchmark if given, else the cumulated
    cross-sectional median of the tickers' daily log returns."""
    if benchmark is not None and benchmark in frames:
        b = frames[benchmark]
        return pd.Series(np.log(b["close"].to_numpy()), index=b["date"].to_numpy())
    parts = []
    for t, df in frames.items():
        parts.append(pd.Series(np.diff(np.log(df["close"].to_numpy())), index=df["date"].to_numpy()[1:], name=t))
    if not parts:
        return pd.Series(dtype="float64")
    med = pd.concat(parts, axis=1).median(axis=1, skipna=True).sort_index()
    return med.fillna(0.0).cumsum()


def _is_exempt(ticker: str, cfg: ValidationConfig) -> bool:
    return ticker.startswith(cfg.split_exempt_prefixes) or ticker.endswith(cfg.split_exempt_suffixes)


def _repair_splits(df: pd.DataFrame, market: Callable[[], pd.Series], chk: _Checker) -> pd.DataFrame:
    """Back-adjust unadjusted splits: a close-to-close jump matching a split ratio that the
    market did not share and that is far outside the series' usual daily moves."""
    cfg = chk.cfg
    close = df["close"].to_numpy()
    if len(close) < 2:
        return df
    r = np.diff(np.log(close))
    ratios = np.array([n / d for n, d in cfg.split_ratios] + [d / n for n, d in cfg.split_ratios])
    labels = [f"{n}:{d} split" for n, d in cfg.split_ratios]
    labels += [f"{d}:{n} reverse split" for n, d in cfg.split_ratios]
    dist = np.abs(r[:, None] + np.log(ratios)[None, :])  # price moves by 1/ratio on a split
    best = dist.argmin(axis=1)
    cand = np.flatnonzero(dist[np.arange(len(r)), best] < cfg.split_tolerance)
    if len(cand) == 0:
        return df
    dates = df["date"].to_numpy()
    level = market().sort_index()
    factor = np.ones(len(close))
    abs_r = np.abs(r)
    for i in cand:
        m_lo = level.asof(pd.Timestamp(dates[i])) if len(level) else np.nan
        m_hi = level.asof(pd.Timestamp(dates[i + 1])) if len(level) else np.nan
        move = m_hi - m_lo
        w = cfg.split_vol_window
        around = np.r_[abs_r[max(0, i - w) : i], abs_r[i + 1 : i + 1 + w]]
        sigma = MAD_TO_SD * np.median(around) if len(around) else np.nan
        if not (abs(move) < cfg.split_max_market_move) or not (abs_r[i] >= cfg.split_min_sigmas * sigma):
            continue  # market shared the move, no market data, or the series is just that volatile
        k = 1.0 / ratios[best[i]]
        factor[i] *= k
        chk.note(
            "unadjusted_split",
            "repaired",
            f"close {_fmt(close[i])} -> {_fmt(close[i + 1])} (x{close[i + 1] / close[i]:.3f}) looks like an "
            f"unadjusted {labels[best[i]]}; market moved {np.expm1(move):+.1%}; the {i + 1} earlier row(s) "
            f"scaled: prices x{k:g}, volume x{1 / k:g}",
            df["row"].iloc[i + 1],
            dates[i + 1],
        )
    if (factor == 1.0).all():
        return df
    scale = np.cumprod(factor[::-1])[::-1]  # row j: product of all split factors after it
    out = df.assign(**{k: df[k].to_numpy() * scale for k in PRICE_COLUMNS})
    return out.assign(volume=df["volume"].to_numpy() / scale)


def _repair_all_splits(
    frames: dict[str, pd.DataFrame], checkers: dict[str, _Checker], benchmark: str | None, cfg: ValidationConfig
) -> None:
    """Back-adjust splits in place: the benchmark against the cross-section first, then everyone against it.

    Market levels are built lazily and once each: only a split candidate needs one.
    """
    levels: dict[str | None, pd.Series] = {}

    def market_for(ticker: str) -> Callable[[], pd.Series]:
        key = None if ticker == benchmark else benchmark
        return lambda: levels[key] if key in levels else levels.setdefault(key, _market_level(frames, key))

    for ticker in ([benchmark] if benchmark else []) + [t for t in frames if t != benchmark]:
        if not _is_exempt(ticker, cfg):
            frames[ticker] = _repair_splits(frames[ticker], market_for(ticker), checkers[ticker])


def _note_stale(
    frames: dict[str, pd.DataFrame],
    checkers: dict[str, _Checker],
    days: np.ndarray,
    last_pos: dict[str, int],
    calendar: str,
    cfg: ValidationConfig,
) -> None:
    """A series that stopped updating quietly drops out of the newest dates: say so (nothing is extended)."""
    if not last_pos:
        return
    newest = max(last_pos.values())
    for ticker, last in last_pos.items():
        behind = newest - last
        if ticker in frames and behind > cfg.stale_sessions:
            end = frames[ticker]["date"].iloc[-1]
            checkers[ticker].note(
                "stale",
                "noted",
                f"series ends {_iso(end)}, {behind} {calendar} sessions before the newest date across "
                f"tickers ({_iso(days[newest])})",
                date=end,
            )


def validate(
    raw: dict[str, pd.DataFrame],
    where: dict[str, str],
    calendar: str = "XNYS",
    benchmark: str | None = None,
    as_of=None,
    config: ValidationConfig = DEFAULT_CONFIG,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check and repair raw per-ticker bars; returns tidy bars and the report.

    ``raw`` maps ticker -> frame with date, open, high, low, close, volume and optionally
    ``row`` (1-based line in the file, for the report). ``where`` names each ticker's file
    or source. Rows after ``as_of`` are ignored. A series left with no usable rows is
    refused and dropped; if it is the benchmark, DataValidationError is raised.
    """
    report = ValidationReport()
    checkers = {t: _Checker(report, t, where.get(t, ""), config) for t in raw}
    frames: dict[str, pd.DataFrame] = {}

    def refuse_empty(ticker: str, why: str) -> None:
        checkers[ticker].note("no_usable_rows", "refused", f"no usable rows left ({why}); series dropped")
        frames.pop(ticker, None)
        if ticker == benchmark:
            raise DataValidationError(
                f"benchmark {ticker} ({where.get(ticker, 'n/a')}) has no usable rows ({why})", report
            )

    if benchmark is not None and benchmark not in raw:
        raise DataValidationError(f"benchmark {benchmark} is not among the series given: {sorted(raw)}", report)
    for ticker, df in raw.items():
        frames[ticker] = _clean_one(df, checkers[ticker], as_of)
        if frames[ticker].empty:
            refuse_empty(ticker, "every row was dropped or the series was empty")
    if not frames:
        return empty_bars(), report

    days, last_pos = _calendar_checks(frames, checkers, calendar)
    for ticker in [t for t, f in frames.items() if f.empty]:
        refuse_empty(ticker, "no row falls on a trading session")

    _repair_all_splits(frames, checkers, benchmark, config)
    _note_stale(frames, checkers, days, last_pos, calendar, config)
    bars = pd.concat([f.drop(columns="row").assign(ticker=t) for t, f in frames.items()], ignore_index=True)
    return tidy_bars(bars), report
