"""How far behind the market the data is, counted in the exchange's sessions.

The expected last session is the last one before today: today's close may not be in yet, so a
normal morning is 0 sessions behind, and a weekend or holiday never makes data look stale.
"""

from __future__ import annotations

import functools

import pandas as pd

from features.calendar import sessions
from serving.request import utc_naive


@functools.lru_cache(maxsize=64)
def _missed_sessions(calendar: str, data_through: pd.Timestamp, today: pd.Timestamp) -> tuple[int, pd.Timestamp]:
    lo, hi = data_through + pd.Timedelta(days=1), today - pd.Timedelta(days=1)
    if lo > hi:
        return 0, data_through
    try:
        missed = sessions(calendar, lo, hi)
    except ValueError:  # a calendar exchange_calendars does not know: weekdays stand in
        missed = pd.bdate_range(lo, hi)
    return len(missed), (missed[-1] if len(missed) else data_through)


def freshness(data_through: pd.Timestamp, calendar: str, now: pd.Timestamp, stale_sessions: int) -> dict:
    """{data_through, expected_session, sessions_behind, stale_sessions, stale} (JSON-ready)."""
    today = utc_naive(now).normalize()
    through = pd.Timestamp(data_through).normalize()
    behind, expected = _missed_sessions(calendar, through, today)
    return {
        "data_through": through.date().isoformat(),
        "expected_session": expected.date().isoformat(),
        "sessions_behind": behind,
        "stale_sessions": stale_sessions,
        "stale": behind >= stale_sessions,
    }
