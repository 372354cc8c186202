"""The yfinance source: daily bars from Yahoo, kept in a per-ticker CSV cache refreshed incrementally.

Why this shape:
* A second run must need no network, and a refresh should ask only for what is new: one
  yfinance-style CSV per ticker (``<cache>/<TICKER>.csv``, readable by the ``csv:DIR`` source
  too), topped up from the last cached date minus OVERLAP_DAYS, new rows winning on overlap.
* yfinance never raises offline: it logs and returns an empty (or all-NaN) frame, and on a
  network that accepts connections but never answers one call can hang for minutes whatever
  its timeout. So every download runs in a daemon thread behind a hard deadline (with
  yfinance's own non-daemon worker threads off, so an abandoned call never holds the process
  open), and an empty or all-NaN ticker counts as a failure that is named, never silently skipped.
  Big universes (500 members) go in batches of tickers, a few batches at once, all under the
  same deadline; what it leaves no time for is named and asked for first by the next refresh.
* ``auto_adjust=True`` prices are adjusted as of the download day: after a dividend or split
  Yahoo's whole history moves. When the overlap shows that, the cached history is rescaled
  to the new basis (reported as a repair) instead of leaving a step where the blocks meet.

yfinance is imported lazily, inside the download worker (it is slow to import and not needed
by the other sources).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from features.bars import PRICE_COLUMNS, VALUE_COLUMNS
from features.calendar import last_complete_session, utc
from features.findings import Finding, ValidationReport

CACHE_ENV = "SECTOR_HEATMAP_CACHE"
DEFAULT_CACHE = Path("~/.cache/sector-heatmap")
DEFAULT_START = "1998-01-01"
OVERLAP_DAYS = 7  # calendar days re-downloaded before the last cached date
REQUEST_TIMEOUT_S = 10.0  # yfinance's own per-request timeout (our deadline is the real bound)
READJUST_TOLERANCE = 1e-4  # relative close difference on the overlap that means "re-adjusted"
SPLIT_LOG_RATIO = np.log(1.2)  # re-adjustments larger than this are splits: volume rescales too
PROBE_HOST, PROBE_PORT = "query2.finance.yahoo.com", 443
PROBE_DEADLINE_S = 3.0
REASON_CHARS = 160  # how much of yfinance's own error message to quote
ERRORS_ATTR = "yfinance_errors"  # frame.attrs key: the errors yfinance logged during the call
SAID = "; yfinance said: "
CSV_HEADER = ("Date", "Close", "High", "Low", "Open", "Volume")  # what yfinance's to_csv writes
WHERE = "yfinance"
BATCH = 50  # tickers per yf.download call (FeatureConfig.download_batch)
PARALLEL = 4  # calls at once (FeatureConfig.download_parallel); yfinance keeps its state per call

# (tickers, start, end, timeout_s, cache_dir) -> the frame yf.download returns
Downloader = Callable[[list[str], str, "str | None", float, Path], pd.DataFrame]


class DownloadTimeout(TimeoutError):
    """A download that did not finish within its deadline (its thread is abandoned)."""


@dataclass
class YahooFetch:
    """Per-ticker raw bars (cache merged with fresh rows), ready for features.validation.validate."""

    raw: dict[str, pd.DataFrame] = field(default_factory=dict)  # ticker -> date, open..volume
    where: dict[str, str] = field(default_factory=dict)  # ticker -> cache file (or "yfinance")
    failed: dict[str, str] = field(default_factory=dict)  # ticker -> why its refresh failed
    refreshed: list[str] = field(default_factory=list)  # up to date after this call
    report: ValidationReport = field(default_factory=ValidationReport)
    notes: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """Failed and with nothing cached: no data at all."""
        return [t for t in self.failed if t not in self.raw]

    @property
    def stale(self) -> list[str]:
        """Failed but served from the cache."""
        return [t for t in self.failed if t in self.raw]

    def last_date(self, tickers=None) -> pd.Timestamp | None:
        ends = [self.raw[t]["date"].max() for t in (tickers or self.raw) if t in self.raw and len(self.raw[t])]
        return max(ends) if ends else None


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def cache_path(cache_dir: Path, ticker: str) -> Path:
    safe = ticker.replace("/", "_").replace("\\", "_")
    return Path(cache_dir) / f"{safe}.csv"


def _download_group(download, group: list[str], since, deadline, cache_dir):
    """One batched download, its own timeout bounded by what is left of the overall deadline."""
    return download(group, since, None, min(REQUEST_TIMEOUT_S, deadline.left()), cache_dir)


def load_yfinance(
    tickers,
    cache_dir: Path | None = None,
    *,
    deadline_s: float = 60,
    start=DEFAULT_START,
    calendar: str = "XNYS",
    downloader: Downloader | None = None,
    now: pd.Timestamp | None = None,
    batch: int = BATCH,
    parallel: int = PARALLEL,
) -> YahooFetch:
    """Refresh the cache for `tickers` from Yahoo (within `deadline_s` in total) and return it all.

    Tickers already holding the last completed session are not asked for. The others are
    grouped by first missing date, one ``yf.download`` per `batch` tickers of a group, up to
    `parallel` at once. A failed ticker keeps its cached rows (listed in ``stale``) or has none
    (``missing``); both are in ``failed``. Batches the deadline leaves no time for are named as
    not attempted: the next refresh asks for them first (they have the oldest data).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    download = downloader or yf_download
    now = pd.Timestamp.now(tz="UTC") if now is None else utc(now)
    complete = last_complete_session(calendar, now)
    fetch = read_cache(tickers, cache_dir)
    fetch.failed.clear()

    groups: dict[str, list[str]] = {}
    for ticker in dict.fromkeys(tickers):
        last = fetch.last_date([ticker])
        if last is not None and last >= complete:
            fetch.refreshed.append(ticker)
            continue
        since = pd.Timestamp(start) if last is None else last - pd.Timedelta(days=OVERLAP_DAYS)
        groups.setdefault(since.strftime("%Y-%m-%d"), []).append(ticker)

    batches = [
        (since, group[i : i + max(batch, 1)])
        for since, group in sorted(groups.items())
        for i in range(0, len(group), max(batch, 1))
    ]
    deadline = _Deadline(deadline_s)
    jobs = [partial(_download_group, download, group, since, deadline, cache_dir) for since, group in batches]
    for (_, group), outcome in zip(batches, _run_jobs(jobs, deadline, parallel)):
        if outcome is None:
            fetch.failed.update(
                {t: f"not attempted: the {deadline_s:g} s download deadline was used up" for t in group}
            )
            continue
        if isinstance(outcome, DownloadTimeout):
            fetch.failed.update({t: f"download timed out after {deadline_s:g} s" for t in group})
            continue
        if isinstance(outcome, BaseException):
            fetch.failed.update({t: f"download failed: {type(outcome).__name__}: {outcome}" for t in group})
            continue
        fresh, why = split_download(outcome, group)
        fetch.failed.update(why)
        for ticker, rows in fresh.items():
            rows = rows[rows["date"] <= complete]  # today's bar is partial until the close
            if rows.empty:
                fetch.failed[ticker] = f"no completed session in the rows returned (last {complete.date()})"
                continue
            _merge_into_cache(fetch, ticker, rows, cache_dir)
            fetch.refreshed.append(ticker)

    _report_failures(fetch)
    return fetch


def _report_failures(fetch: YahooFetch) -> None:
    """One finding per failed ticker; one note per (reason, cached or not), naming the tickers."""
    grouped: dict[tuple[str, bool], list[str]] = {}
    for ticker, why in fetch.failed.items():
        cached = ticker in fetch.raw
        if cached:
            through = fetch.last_date([ticker])
            msg = f"refresh failed ({why}); using the cache through {through.date() if through is not None else 'n/a'}"
        else:
            msg = f"refresh failed ({why}) and nothing is cached"
            fetch.where[ticker] = WHERE
        fetch.report.add(Finding(ticker, "download_failed", "noted", msg, fetch.where[ticker]))
        grouped.setdefault((why.split(SAID)[0], cached), []).append(ticker)
    for (why, cached), names in grouped.items():
        tail = "using their cached data" if cached else "no cached data either"
        said = next((fetch.failed[t].split(SAID)[1] for t in names if SAID in fetch.failed[t]), "")
        fetch.notes.append(
            f"yfinance: {', '.join(names)}: {why}; {tail}" + (f" (yfinance said: {said})" if said else "")
        )


def read_cache(tickers, cache_dir: Path | None = None) -> YahooFetch:
    """The cached bars only (no network); tickers without a usable cache file are in ``failed``."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    fetch = YahooFetch()
    for ticker in dict.fromkeys(tickers):
        path = cache_path(cache_dir, ticker)
        if not path.is_file():
            fetch.failed[ticker] = "not in the cache"
            continue
        try:
            frame = _read_cache_file(path)
        except (ValueError, KeyError, pd.errors.ParserError) as exc:
            fetch.failed[ticker] = f"unreadable cache file ({exc})"
            fetch.report.add(Finding(ticker, "cache_unreadable", "noted", f"ignored: {exc}", str(path)))
            continue
        if frame.empty:
            fetch.failed[ticker] = "cache file is empty"
            continue
        fetch.raw[ticker], fetch.where[ticker] = frame, str(path)
    return fetch


def split_download(frame: pd.DataFrame | None, tickers: list[str]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Per-ticker rows (date, open..volume) from a yf.download frame, plus why the others failed.

    Handles the (Price, Ticker) MultiIndex of yfinance >= 0.2.51 in either level order and a
    flat frame for a single ticker. Rows whose prices are all NaN (another ticker's dates) go.
    """
    out: dict[str, pd.DataFrame] = {}
    failed: dict[str, str] = {}
    if frame is None or frame.empty:
        return out, {
            t: "empty frame returned (offline, rate-limited or unknown ticker)" + _said(frame, t) for t in tickers
        }
    for ticker in tickers:
        sub = columns_of(frame, ticker, single=len(tickers) == 1)
        if sub is None:
            failed[ticker] = "not in the frame returned" + _said(frame, ticker)
            continue
        lacking = [c for c in VALUE_COLUMNS if c not in sub]
        if lacking:
            failed[ticker] = f"columns {lacking} missing from the frame returned"
            continue
        index = pd.DatetimeIndex(pd.to_datetime(sub.index))
        if index.tz is not None:
            index = index.tz_localize(None)
        rows = pd.DataFrame({"date": index.normalize().astype("datetime64[ns]")})
        for c in VALUE_COLUMNS:
            rows[c] = pd.to_numeric(sub[c], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        rows = rows[rows[list(PRICE_COLUMNS)].notna().any(axis=1)].reset_index(drop=True)
        if rows.empty:
            failed[ticker] = "all prices missing (NaN) in the frame returned" + _said(frame, ticker)
            continue
        out[ticker] = rows
    return out, failed


def _said(frame: pd.DataFrame | None, ticker: str) -> str:
    """What yfinance logged about `ticker` during the call (e.g. DNSError), briefly."""
    messages = [] if frame is None else list(frame.attrs.get(ERRORS_ATTR, []))
    mine = [m for m in messages if f"'{ticker}'" in m or f"{ticker}:" in m] or messages[:1]
    if not mine:
        return ""
    text = " ".join(mine[0].split())
    return f"{SAID}{text[:REASON_CHARS]}{'...' if len(text) > REASON_CHARS else ''}"


def columns_of(frame: pd.DataFrame, ticker: str, single: bool) -> pd.DataFrame | None:
    """`ticker`'s lower-cased columns from a yf.download frame (either index shape), or None."""
    cols = frame.columns
    if not isinstance(cols, pd.MultiIndex):
        return frame.rename(columns=lambda c: str(c).lower()) if single else None
    for level in range(cols.nlevels):
        if ticker in set(cols.get_level_values(level)):
            sub = frame.xs(ticker, axis=1, level=level)
            if isinstance(sub.columns, pd.MultiIndex):
                sub.columns = sub.columns.get_level_values(-1)
            return sub.rename(columns=lambda c: str(c).lower())
    return None


def _read_cache_file(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("date", *VALUE_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} missing")
    dates = pd.to_datetime(frame["date"], format="%Y-%m-%d", errors="raise")
    out = pd.DataFrame({"date": dates.astype("datetime64[ns]")})
    for c in VALUE_COLUMNS:
        out[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    return out


def _merge_into_cache(fetch: YahooFetch, ticker: str, fresh: pd.DataFrame, cache_dir: Path) -> None:
    """Cached rows + fresh rows (fresh wins on a shared date), rescaled if Yahoo re-adjusted."""
    path = cache_path(cache_dir, ticker)
    cached = fetch.raw.get(ticker)
    if cached is not None and len(cached):
        cached = _readjust(fetch, ticker, cached, fresh, str(path))
        merged = pd.concat([cached, fresh], ignore_index=True)
        merged = merged.drop_duplicates("date", keep="last")
    else:
        merged = fresh
    merged = merged.sort_values("date", kind="stable").reset_index(drop=True)
    _write_cache_file(path, merged)
    fetch.raw[ticker], fetch.where[ticker] = merged, str(path)


def _readjust(fetch: YahooFetch, ticker: str, cached: pd.DataFrame, fresh: pd.DataFrame, where: str) -> pd.DataFrame:
    """Put cached history on the fresh download's adjustment basis (dividends/splits since)."""
    both = cached.merge(fresh, on="date", suffixes=("_old", "_new"))
    both = both[(both["close_old"] > 0) & (both["close_new"] > 0)]
    if both.empty:
        return cached
    first = both.iloc[0]
    ratio = float(first["close_new"] / first["close_old"])
    if abs(ratio - 1) <= READJUST_TOLERANCE:
        return cached
    older = cached["date"] < fresh["date"].min()
    scaled = cached.copy()
    for c in PRICE_COLUMNS:
        scaled.loc[older, c] = cached.loc[older, c] * ratio
    split_like = abs(np.log(ratio)) > SPLIT_LOG_RATIO
    if split_like:
        scaled.loc[older, "volume"] = cached.loc[older, "volume"] / ratio
    day = first["date"].strftime("%Y-%m-%d")
    fetch.report.add(
        Finding(
            ticker,
            "readjusted_history",
            "repaired",
            f"Yahoo's adjusted close on {day} is now {first['close_new']:.6g} (cached {first['close_old']:.6g}): "
            f"cached prices before {fresh['date'].min().date()} scaled by {ratio:.6g}"
            + (
                " and volumes by its inverse (a split)"
                if split_like
                else " (a dividend or split since the last refresh)"
            ),
            where,
            date=day,
        )
    )
    return scaled


def _write_cache_file(path: Path, frame: pd.DataFrame) -> None:
    """Atomically, in the layout yfinance's own to_csv uses (so csv:DIR reads the cache too)."""
    out = pd.DataFrame({"Date": frame["date"].dt.strftime("%Y-%m-%d")})
    for name in CSV_HEADER[1:]:
        out[name] = frame[name.lower()].to_numpy()
    tmp = path.with_name(path.name + ".tmp")
    out.to_csv(tmp, index=False)
    os.replace(tmp, path)


# -- network ---------------------------------------------------------------------------------
_TZ_CACHE_DIRS: set[str] = set()
_LOCK = threading.Lock()


def yf_download(
    tickers: list[str], start: str, end: str | None, timeout: float, cache_dir: Path, interval: str = "1d"
) -> pd.DataFrame:
    """The real call; runs inside the deadline thread. Never called by the tests. `interval`: 1d, or an
    intraday one (features/sources/intraday.py)."""
    import yfinance as yf  # lazy: slow to import, and only this source needs it

    with _LOCK:
        key = str(cache_dir)
        if key not in _TZ_CACHE_DIRS:  # keep yfinance's tz/cookie caches with ours
            tz_dir = Path(cache_dir) / "yfinance"
            tz_dir.mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(tz_dir))
            _TZ_CACHE_DIRS.add(key)
    # yfinance logs its failures instead of raising: collect them for our message, keep stderr clean
    warnings.filterwarnings("ignore", module="yfinance")  # its own pandas deprecations, not ours to fix
    logger, collect = logging.getLogger("yfinance"), _Collect()
    logger.addHandler(collect)
    try:
        frame = yf.download(
            tickers,
            start=start,
            end=end,
            interval=interval,
            auto_adjust=True,
            actions=False,
            progress=False,
            # No worker threads of yfinance's own: they are non-daemon (multitasking) and would
            # outlive our deadline, holding interpreter exit for minutes behind a silent proxy.
            threads=False,
            timeout=timeout,
            multi_level_index=True,
            group_by="column",
        )
    finally:
        logger.removeHandler(collect)
    frame = pd.DataFrame() if frame is None else frame
    frame.attrs[ERRORS_ATTR] = collect.messages
    return frame


class _Collect(logging.Handler):
    """Keeps yfinance's error records (which also stops Python printing them to stderr).

    Only those logged by the thread that made it: an abandoned download still running in its
    own thread must not put its errors into a later call's message.
    """

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip()
        if text and record.thread == self._thread and "Failed download" not in text:
            self.messages.append(text)


class _Deadline:
    """One budget shared by all the downloads of a refresh."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self._end = time.monotonic() + float(seconds)

    def left(self) -> float:
        return self._end - time.monotonic()


_HUNG: list[threading.Thread] = []  # abandoned downloads still running (diagnostics and tests only)


def with_deadline(fn: Callable[[], object], seconds: float):
    """Run fn in a daemon thread and give up after `seconds` (the thread is left to die with us).

    An earlier download still hanging does not stop this one: each call is bounded by its own
    deadline (yf.download keeps its state per call), so a later refresh always gets its attempt.
    """
    deadline = _Deadline(seconds)
    (outcome,) = _run_jobs([fn], deadline, 1)
    if outcome is None:  # no time left to start it
        raise DownloadTimeout(f"no answer within {deadline.seconds:.3g} s")
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _run_jobs(jobs: Sequence[Callable[[], object]], deadline: _Deadline, parallel: int) -> list[object]:
    """Each job's result, exception, DownloadTimeout (still running at the deadline) or None (never
    started), in job order. Up to `parallel` daemon threads take jobs in order and stop taking
    new ones once the deadline has passed; whatever still runs then is abandoned (a daemon
    thread nobody joins), so a download that never returns never holds the process open either.

    Hand-written rather than an executor: executor workers are joined at interpreter exit, which
    would turn a hung download back into a hung command.
    """
    _HUNG[:] = [t for t in _HUNG if t.is_alive()]
    outcomes: list[object] = [None] * len(jobs)
    state = {"next": 0}
    lock, finished = threading.Lock(), threading.Event()
    running: dict[int, threading.Thread] = {}

    def take() -> int | None:
        with lock:
            i = state["next"]
            if i >= len(jobs) or deadline.left() <= 0:
                return None
            state["next"] = i + 1
            running[i] = threading.current_thread()
            return i

    def work() -> None:
        while (i := take()) is not None:
            try:
                value: object = jobs[i]()
            except BaseException as exc:
                value = exc
            with lock:
                outcomes[i] = value
                running.pop(i, None)
        with lock:
            if not running and (state["next"] >= len(jobs) or deadline.left() <= 0):
                finished.set()

    threads = [
        threading.Thread(target=work, name=f"yfinance-download-{k}", daemon=True)
        for k in range(min(max(parallel, 1), len(jobs)))
    ]
    if not threads:
        return outcomes
    for t in threads:
        t.start()
    finished.wait(max(deadline.left(), 0.0))
    with lock:
        for i, thread in running.items():  # still running at the deadline: abandoned
            outcomes[i] = DownloadTimeout(f"no answer within {deadline.seconds:.3g} s")
            _HUNG.append(thread)
        state["next"] = len(jobs)  # nothing more is started
        return list(outcomes)


def probe(deadline_s: float = PROBE_DEADLINE_S) -> bool:
    """Can we open a TCP connection to Yahoo quickly? (DNS included, under the same deadline.)"""

    def connect() -> bool:
        with socket.create_connection((PROBE_HOST, PROBE_PORT), timeout=deadline_s):
            return True

    box: dict[str, bool] = {}
    worker = threading.Thread(target=lambda: box.setdefault("ok", _quiet(connect)), name="yahoo-probe", daemon=True)
    worker.start()  # daemon and only waited for up to the deadline: a stuck DNS lookup never holds exit
    worker.join(deadline_s)
    return bool(box.get("ok"))


def _quiet(fn: Callable[[], bool]) -> bool:
    try:
        return fn()
    except OSError:
        return False
