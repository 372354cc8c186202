"""Exchange sessions from exchange-calendars, so gaps are judged against real trading days."""

from __future__ import annotations

import functools

import pandas as pd

from features.errors import ConfigError

_FIRST = "1990-01-01"


def utc(ts) -> pd.Timestamp:
    """`ts` as a UTC timestamp (a naive one is taken to be UTC already)."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


@functools.lru_cache(maxsize=8)
def _calendar(name: str):
    import exchange_calendars as xcals  # deferred: ~0.5 s to import

    try:
        return xcals.get_calendar(name, start=_FIRST)
    except xcals.errors.InvalidCalendarName:
        raise ConfigError(f"unknown exchange calendar {name!r} (see exchange_calendars.get_calendar_names())") from None


def sessions(name: str, start, end) -> pd.DatetimeIndex:
    """Trading sessions of exchange `name` between start and end inclusive (naive dates).

    Dates outside the calendar's bounds are clipped to them.
    """
    cal = _calendar(name)
    lo = max(pd.Timestamp(start), cal.first_session.tz_localize(None) if cal.first_session.tz else cal.first_session)
    hi = min(pd.Timestamp(end), cal.last_session.tz_localize(None) if cal.last_session.tz else cal.last_session)
    if lo > hi:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    return pd.DatetimeIndex(cal.sessions_in_range(lo, hi)).tz_localize(None).astype("datetime64[ns]")


def last_complete_session(calendar: str, now: pd.Timestamp) -> pd.Timestamp:
    """The newest session whose close has passed at `now` (a bar for a later one is partial)."""
    cal = _calendar(calendar)
    today = now.tz_convert(cal.tz).tz_localize(None).normalize()
    recent = sessions(calendar, today - pd.Timedelta(days=14), today)
    last = recent[-1]
    if last == today and now < cal.session_close(last):
        last = recent[-2]
    return last
