"""Today's partial session from yfinance intraday bars: one partial daily bar per ticker, never cached.

Why separate from the daily source: a partial bar is descriptive only. It must never reach the
daily cache, the validated bars, a feature, a label or training (the daily source already drops
today's row until the close, yahoo.load_yfinance). So it comes back here as its own value, which
the serving layer shows as today's move, marked intraday with the time of its last bar.

Yahoo serves 5m/15m/30m bars for about the last 60 days only: we only ever ask for today. One
batched download for all tickers, behind the same hard deadline as the daily downloads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.bars import VALUE_COLUMNS
from features.calendar import _calendar, utc
from features.sources import yahoo

# (tickers, start day, timeout_s, interval, cache_dir) -> the frame yf.download returns
IntradayDownloader = Callable[[list[str], str, float, str, Path], pd.DataFrame]
INTERVAL_MINUTES = {"5m": 5, "15m": 15, "30m": 30, "60m": 60}


@dataclass(frozen=True)
class IntradayBars:
    """Partial bars of one session so far: tidy (date = the session, ticker, open..volume)."""

    session: pd.Timestamp  # naive date
    bars: pd.DataFrame
    last_bar: dict[str, pd.Timestamp] = field(default_factory=dict)  # ticker -> UTC start of its latest bar
    interval: str = "15m"
    failed: dict[str, str] = field(default_factory=dict)  # ticker -> why it has no partial bar
    asked_at: pd.Timestamp | None = None  # UTC: the newest bar is still forming until its end passes

    @property
    def through(self) -> pd.Timestamp | None:
        """What the intraday numbers are as of (UTC): the end of the latest bar, or the time of the download
        while that bar is still forming."""
        if not self.last_bar:
            return None
        end = max(self.last_bar.values()) + pd.Timedelta(minutes=INTERVAL_MINUTES.get(self.interval, 0))
        return end if self.asked_at is None else min(end, self.asked_at)


def _real_download(tickers: list[str], start: str, timeout: float, interval: str, cache_dir: Path) -> pd.DataFrame:
    return yahoo.yf_download(tickers, start, None, timeout, cache_dir, interval=interval)


def load_intraday(
    tickers,
    calendar: str,
    now: pd.Timestamp,
    *,
    interval: str = "15m",
    deadline_s: float = 30.0,
    downloader: IntradayDownloader | None = None,
    cache_dir: Path | None = None,
) -> IntradayBars | None:
    """Today's partial bar per ticker while `calendar` is in session at `now` (UTC); None when it is not.

    Only bars that started inside the session and before `now` count. A ticker with none, or a
    download that fails or times out, lands in `failed` (the caller shows completed sessions then).
    """
    cal = _calendar(calendar)
    now = utc(now)
    if not cal.is_trading_minute(now):
        return None
    session = cal.minute_to_session(now, direction="previous").tz_localize(None)
    opens, closes = cal.session_open(session), cal.session_close(session)
    names = list(dict.fromkeys(tickers))
    empty = pd.DataFrame(columns=["date", "ticker", *VALUE_COLUMNS])
    download = downloader or _real_download
    cache_dir = Path(cache_dir) if cache_dir is not None else yahoo.default_cache_dir()
    call = functools.partial(
        download, names, session.strftime("%Y-%m-%d"), min(yahoo.REQUEST_TIMEOUT_S, deadline_s), interval, cache_dir
    )
    try:
        frame = yahoo.with_deadline(call, deadline_s)
    except yahoo.DownloadTimeout:
        return IntradayBars(session, empty, interval=interval, failed=dict.fromkeys(names, "timed out"), asked_at=now)
    except Exception as exc:  # yfinance raises little; whatever it is, today's move is simply not shown
        why = f"download failed: {type(exc).__name__}: {exc}"
        return IntradayBars(session, empty, interval=interval, failed=dict.fromkeys(names, why), asked_at=now)
    rows, last, failed = [], {}, {}
    for ticker in names:
        sub = None if frame is None or frame.empty else yahoo.columns_of(frame, ticker, single=len(names) == 1)
        bar = None if sub is None else _partial_bar(sub, cal.tz, opens, min(now, closes))
        if bar is None:
            failed[ticker] = "no intraday bar in today's session"
            continue
        values, last[ticker] = bar
        rows.append({"date": session, "ticker": ticker, **values})
    bars = pd.DataFrame(rows, columns=["date", "ticker", *VALUE_COLUMNS]) if rows else empty
    return IntradayBars(session, bars, last, interval, failed, now)


def _partial_bar(sub: pd.DataFrame, tz, opens: pd.Timestamp, until: pd.Timestamp):
    """({open, high, low, close, volume}, last bar start UTC) from one ticker's intraday rows, or None."""
    if any(c not in sub for c in VALUE_COLUMNS):
        return None
    index = pd.DatetimeIndex(pd.to_datetime(sub.index))
    index = (index.tz_localize(tz) if index.tz is None else index).tz_convert("UTC")
    values = {
        c: pd.to_numeric(sub[c], errors="coerce").to_numpy(dtype="float64", na_value=np.nan) for c in VALUE_COLUMNS
    }
    keep = (index >= opens) & (index < until) & np.isfinite(values["close"]) & (values["close"] > 0)
    if not keep.any():
        return None
    order = np.argsort(index[keep].asi8, kind="stable")
    v = {c: values[c][keep][order] for c in VALUE_COLUMNS}
    first_open = v["open"][np.isfinite(v["open"])]
    bar = {
        "open": float(first_open[0]) if len(first_open) else float(v["close"][0]),
        "high": float(np.nanmax(np.r_[v["high"], v["close"]])),
        "low": float(np.nanmin(np.r_[v["low"], v["close"]])),
        "close": float(v["close"][-1]),
        "volume": float(np.nansum(v["volume"])),
    }
    return bar, index[keep][order][-1]
