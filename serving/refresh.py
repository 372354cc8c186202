"""When the service refreshes its data: the exchange's schedule and the retry backoff, as pure functions.

Rule (issue 10): every `interval` while the exchange is in session, once more `after_close` after the
close, never while it is closed. The refresh times of a session are its slots: open, open + interval,
... (before the close), then close + after_close. A refresh is due at the first slot after the last
attempt, so a server started at 10:07 refreshes at 10:15, one started on Saturday at Monday's open.
Holidays, weekends, early closes and time zones come from exchange-calendars (features/calendar.py),
never from hand-written rules. A failed attempt is retried with exponential backoff, but never past the
next regular slot and, once the session is over, only within `retry_after_close` of the close.

Everything takes `now` (a tz-aware UTC timestamp): no clock is read here, so the tests drive it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.calendar import _calendar, utc
from serving.status import iso

SESSIONS_AHEAD = 14  # calendar days searched for the next session (the longest market closure is shorter)


@dataclass(frozen=True)
class Schedule:
    interval: pd.Timedelta = pd.Timedelta(minutes=15)
    after_close: pd.Timedelta = pd.Timedelta(minutes=5)
    backoff_min: pd.Timedelta = pd.Timedelta(seconds=30)
    backoff_max: pd.Timedelta = pd.Timedelta(minutes=10)
    retry_after_close: pd.Timedelta = pd.Timedelta(hours=2)

    @classmethod
    def from_config(cls, cfg) -> Schedule:
        """From serving.config.ServingConfig's refresh_* fields."""
        return cls(
            pd.Timedelta(minutes=cfg.refresh_interval_min),
            pd.Timedelta(minutes=cfg.refresh_after_close_min),
            pd.Timedelta(seconds=cfg.refresh_backoff_min_s),
            pd.Timedelta(seconds=cfg.refresh_backoff_max_s),
            pd.Timedelta(minutes=cfg.refresh_retry_after_close_min),
        )


@dataclass(frozen=True)
class MarketPhase:
    """The exchange at one moment: in session or not, and the session around it."""

    calendar: str
    open: bool
    session: pd.Timestamp | None  # the session now is in (open), else the next one (naive date)
    opens_at: pd.Timestamp | None  # UTC
    closes_at: pd.Timestamp | None  # UTC

    def to_dict(self) -> dict:
        return {
            "calendar": self.calendar,
            "market_open": self.open,
            "session": None if self.session is None else self.session.date().isoformat(),
            "opens_at": iso(self.opens_at),
            "closes_at": iso(self.closes_at),
        }


@functools.lru_cache(maxsize=8)
def _session_table(calendar: str) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """(sessions, opens, closes as UTC int64 ns) of the whole calendar, built once: a lookup is a bisection
    (the scheduler asks at every tick, on the event loop)."""
    cal = _calendar(calendar)
    sessions = pd.DatetimeIndex(cal.sessions)
    opens = pd.DatetimeIndex(cal.opens.reindex(sessions)).tz_convert("UTC").asi8
    closes = pd.DatetimeIndex(cal.closes.reindex(sessions)).tz_convert("UTC").asi8
    return sessions, opens, closes


def _sessions_from(calendar: str, start: pd.Timestamp) -> Iterator[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]]:
    """(session, open UTC, close UTC), in order, of the sessions closing after a day before `start` and
    opening within SESSIONS_AHEAD days after it (lazily: callers stop at the first that fits)."""
    sessions, opens, closes = _session_table(calendar)
    lo = int(np.searchsorted(closes, (start - pd.Timedelta(days=1)).value, side="right"))
    hi = int(np.searchsorted(opens, (start + pd.Timedelta(days=SESSIONS_AHEAD)).value, side="right"))
    for i in range(lo, hi):
        yield sessions[i], pd.Timestamp(opens[i], tz="UTC"), pd.Timestamp(closes[i], tz="UTC")


def market_phase(calendar: str, now) -> MarketPhase:
    """Is the exchange in session at `now`, and which session is current or next."""
    now = utc(now)
    for session, opens, closes in _sessions_from(calendar, now):
        if now < closes:
            return MarketPhase(calendar, opens <= now, session, opens, closes)
    return MarketPhase(calendar, False, None, None, None)


def slots(opens: pd.Timestamp, closes: pd.Timestamp, sched: Schedule) -> list[pd.Timestamp]:
    """Refresh times of one session: every interval from the open while in session, then after the close."""
    n = int((closes - opens) / sched.interval)
    times = [opens + k * sched.interval for k in range(n + 1)]
    return [t for t in times if t < closes] + [closes + sched.after_close]


def next_slot(calendar: str, after, sched: Schedule) -> pd.Timestamp | None:
    """The first refresh time strictly after `after` (None beyond the calendar's last session)."""
    after = utc(after)
    for _, opens, closes in _sessions_from(calendar, after):
        for t in slots(opens, closes, sched):
            if t > after:
                return t
    return None


def next_due(calendars: Iterable[str], last_attempt, sched: Schedule) -> pd.Timestamp | None:
    """When the next regular refresh is due (the earliest over the universes' exchanges)."""
    due = [t for c in dict.fromkeys(calendars) if (t := next_slot(c, last_attempt, sched)) is not None]
    return min(due) if due else None


def backoff(failures: int, sched: Schedule) -> pd.Timedelta:
    """Wait before retry number `failures` (1, 2, ...): backoff_min doubling up to backoff_max."""
    if failures < 1:
        return pd.Timedelta(0)
    return min(sched.backoff_min * (2 ** min(failures - 1, 30)), sched.backoff_max)


def retry_due(calendars: Iterable[str], failed_at, failures: int, sched: Schedule) -> pd.Timestamp | None:
    """When to try again after `failures` consecutive failures, the last at `failed_at`.

    The backoff, unless the next regular slot comes first; a retry lands only while an exchange is in
    session or within retry_after_close of its last close (a failed after-close refresh is retried for a
    while, then waits for the next session: never refreshing all night while the market is closed)."""
    cals = list(dict.fromkeys(calendars))
    failed_at = utc(failed_at)
    regular = next_due(cals, failed_at, sched)
    retry = failed_at + backoff(failures, sched)
    if regular is not None and regular <= retry:
        return regular
    if any(_retry_allowed(c, retry, sched) for c in cals):
        return retry
    return regular


def _retry_allowed(calendar: str, at: pd.Timestamp, sched: Schedule) -> bool:
    for _, opens, closes in _sessions_from(calendar, at):
        if opens <= at < closes + sched.after_close + sched.retry_after_close:
            return True
    return False
