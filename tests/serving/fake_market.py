"""A fake clock and a fake yfinance for the scheduled-refresh tests, in-process and through the test seam.

Prices are a deterministic function of (ticker, session): every call for the same day answers the same
bars, like Yahoo. The daily download returns today's partial row while the exchange is in session, as
Yahoo does (the source must drop it); the intraday download returns 15-minute bars from the open up to
the clock, moving each ticker by `intraday_move[ticker]` (default: its own drift) by the close.

Control (the served test writes it, the server reads it at every call): a JSON file named by
FAKE_MARKET_CONTROL with `now` (ISO, UTC), `fail` (downloads return an empty frame, as yfinance does
offline), `hang_s` (downloads sleep that long first), `tick_s`, `intraday_scale`. In-process tests use
`FakeMarket` directly.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from features.calendar import _calendar, sessions
from features.universe import load_universe
from serving.live import LiveMarket

CONTROL_ENV = "FAKE_MARKET_CONTROL"
FIRST_ENV = "FAKE_MARKET_FIRST"  # the first session of the history (the bench asks for decades)
FIRST = os.environ.get(FIRST_ENV, "2023-01-03")
LAST = "2026-12-31"
SEAM = str(Path(__file__).resolve()) + ":seam"  # the value of SECTOR_HEATMAP_TEST_SEAM


@functools.cache
def _calendar_days() -> pd.DatetimeIndex:
    return sessions("XNYS", FIRST, LAST)


@functools.cache
def _path(ticker: str) -> np.ndarray:
    """Closes over every session FIRST..LAST: a random walk seeded by the ticker."""
    rng = np.random.default_rng(zlib.crc32(ticker.encode()))
    r = rng.normal(0.0003, 0.01, len(_calendar_days()))
    return 50.0 * np.exp(np.cumsum(r))


def drift(ticker: str) -> float:
    """The default move of a ticker over today's session (fraction), distinct per ticker."""
    return ((zlib.crc32(ticker.encode()) % 41) - 20) / 1000.0


def daily_frame(tickers, start, now: pd.Timestamp) -> pd.DataFrame:
    """What yf.download(interval='1d') returns at `now`: sessions from `start` through today (partial)."""
    cal = _calendar("XNYS")
    days = _calendar_days()
    today = now.tz_convert(cal.tz).tz_localize(None).normalize()
    keep = (days >= pd.Timestamp(start)) & (days <= today)
    if cal.is_session(today) and now < cal.session_open(today):
        keep &= days < today  # before the open: no row for today yet
    index = days[keep]
    cols = {}
    for t in tickers:
        close = _path(t)[keep].copy()
        if len(index) and index[-1] == today and now < cal.session_close(today):
            close[-1] = close[-2] * 1.5  # a wild partial row: if it ever reached the data, the tests would see it
        cols.update(
            {
                ("Close", t): close,
                ("High", t): close * 1.01,
                ("Low", t): close * 0.99,
                ("Open", t): close * 1.001,
                ("Volume", t): np.full(len(close), 1e6),
            }
        )
    frame = pd.DataFrame(cols, index=pd.DatetimeIndex(index, name="Date"))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["Price", "Ticker"])
    return frame


def intraday_frame(tickers, now: pd.Timestamp, scale: float = 1.0, moves: dict | None = None) -> pd.DataFrame:
    """What yf.download(interval='15m') returns for today's session up to `now` (exchange-local index)."""
    cal = _calendar("XNYS")
    today = now.tz_convert(cal.tz).tz_localize(None).normalize()
    if not cal.is_session(today):
        return pd.DataFrame()
    opens, closes = cal.session_open(today), cal.session_close(today)
    starts = pd.date_range(opens, min(now, closes), freq="15min", inclusive="left")
    if len(starts) == 0:
        return pd.DataFrame()
    days = _calendar_days()
    prev = int(days.searchsorted(today)) - 1
    frac = np.asarray((starts - opens) / (closes - opens), dtype="float64") + 15 / 390
    cols = {}
    for t in tickers:
        base = _path(t)[prev]
        move = (moves or {}).get(t, drift(t)) * scale
        close = base * (1 + move * frac)
        cols.update(
            {
                ("Close", t): close,
                ("High", t): close * 1.001,
                ("Low", t): close * 0.999,
                ("Open", t): np.r_[base, close[:-1]],
                ("Volume", t): np.full(len(close), 1e4),
            }
        )
    frame = pd.DataFrame(cols, index=pd.DatetimeIndex(starts.tz_convert(cal.tz), name="Datetime"))
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["Price", "Ticker"])
    return frame


class FakeMarket:
    """A controllable clock and yfinance, counting calls; `market()` is the LiveMarket the service gets."""

    def __init__(self, now, tick_s: float = 0.05) -> None:
        self.now = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now, tz="UTC")
        self.fail = False
        self.hang_s = 0.0
        self.intraday_scale = 1.0
        self.moves: dict[str, float] = {}
        self.daily_calls: list[tuple[list[str], str]] = []
        self.intraday_calls: list[list[str]] = []
        self.news_calls: list[str] = []
        self.tick_s = tick_s
        self.release = threading.Event()  # a hanging download ends when this is set (or hang_s passes)

    def clock(self) -> pd.Timestamp:
        return self.now

    def advance(self, **kw) -> None:
        self.now = self.now + pd.Timedelta(**kw)

    def _wait(self) -> None:
        if self.hang_s:
            self.release.wait(self.hang_s)

    def daily(self, tickers, start, end, timeout, cache_dir) -> pd.DataFrame:
        self.daily_calls.append((list(tickers), start))
        self._wait()
        return pd.DataFrame() if self.fail else daily_frame(tickers, start, self.now)

    def intraday(self, tickers, start, timeout, interval, cache_dir) -> pd.DataFrame:
        self.intraday_calls.append(list(tickers))
        self._wait()
        return pd.DataFrame() if self.fail else intraday_frame(tickers, self.now, self.intraday_scale, self.moves)

    def news(self, ticker: str) -> list[dict]:
        """yfinance `Ticker.news` for one ticker: a good and a bad story (one in each item shape) per ETF,
        published half an hour before now; the tech ETF's are good news, the energy ETF's bad news."""
        self.news_calls.append(ticker)
        if self.fail:
            raise ConnectionError("fake Yahoo is down")
        when = self.now - pd.Timedelta(minutes=30)
        good = f"{ticker} shares rally as profit beats forecasts and revenue rises"
        bad = f"{ticker} shares plunge after a profit warning and weak sales"
        first, second = (good, good) if ticker == "XLK" else (bad, bad) if ticker == "XLE" else (good, bad)
        return [
            {
                "id": f"{ticker}-a",
                "content": {
                    "title": first,
                    "pubDate": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "provider": {"displayName": "Fake Wire"},
                    "canonicalUrl": {"url": f"https://news.example/{ticker}/a"},
                },
            },
            {
                "uuid": f"{ticker}-b",
                "title": second,
                "publisher": "Fake Wire",
                "link": f"https://news.example/{ticker}/b",
                "providerPublishTime": int(when.timestamp()),
                "relatedTickers": [ticker],
            },
        ]

    def market(self) -> LiveMarket:
        return LiveMarket(
            now=self.clock, daily=self.daily, intraday=self.intraday, news=self.news, tick_s=self.tick_s, name="fake"
        )


# ---- through the seam: the control file drives a FakeMarket in the server process -------------------
class ControlledMarket(FakeMarket):
    def __init__(self, control: Path) -> None:
        self.control = control
        super().__init__(self._read()["now"])
        self._sync()

    def _read(self) -> dict:
        stamp = self.control.stat().st_mtime_ns
        if stamp == getattr(self, "_stamp", None):
            return self._last
        for _ in range(50):  # the test rewrites it atomically, but be patient with a half-seen file
            try:
                self._last, self._stamp = json.loads(self.control.read_text()), stamp
                return self._last
            except (OSError, ValueError):
                time.sleep(0.01)
        raise RuntimeError(f"cannot read {self.control}")

    def _sync(self) -> None:
        c = self._read()
        now = pd.Timestamp(c["now"])
        self.now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
        self.fail, self.hang_s = bool(c.get("fail")), float(c.get("hang_s", 0))
        self.intraday_scale = float(c.get("intraday_scale", 1.0))
        self.tick_s = float(c.get("tick_s", 0.1))

    def clock(self) -> pd.Timestamp:
        self._sync()
        return self.now


def seam() -> LiveMarket:
    """The factory SECTOR_HEATMAP_TEST_SEAM names."""
    fake = ControlledMarket(Path(os.environ[CONTROL_ENV]))
    return fake.market()


def write_control(path: Path, **values) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values, default=str))
    os.replace(tmp, path)


def universe_tickers() -> list[str]:
    return load_universe("us_sectors").tickers()
