"""How far behind the market the data is, counted in the exchange's sessions.

The expected last session is the last one before today: today's close may not be in yet, so a
normal morning is 0 sessions behind, and a weekend or holiday never makes data look stale.
"""

from __future__ import annotations

import functools

import pandas as pd

from features.calendar import _calendar, sessions
from features.errors import ConfigError
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


def data_time(data_through: pd.Timestamp, calendar: str, intraday_through: pd.Timestamp | None = None) -> pd.Timestamp:
    """When the data was last true (UTC): the end of the newest intraday bar, else the close of the last
    session held (midnight UTC after it for a calendar exchange_calendars does not know)."""
    if intraday_through is not None:
        return intraday_through
    day = pd.Timestamp(data_through).normalize()
    try:
        cal = _calendar(calendar)
        if cal.is_session(day):
            return pd.Timestamp(cal.session_close(day)).tz_convert("UTC")
    except (ValueError, ConfigError):
        pass
    return (day + pd.Timedelta(days=1)).tz_localize("UTC")


def mark_stale(body: bytes, reason_block: bytes, stale: bool) -> bytes:
    """A cached JSON object answered with the live `refresh` block appended (and, when a refresh failed,
    its top-level `stale` turned true), without parsing it: the cache holds finished bytes, and the block
    changes with every tick while the cached answer must only change with the state (serving/refresher.py).

    The top-level `stale` of a heatmap body is its first `"stale":` key (serving/heatmap.py writes it before
    `freshness`); string values cannot contain that text unescaped. Bodies without one are only appended to."""
    at = body.find(b'"stale":')
    if stale and at >= 0 and body.startswith(b'"stale":false', at):
        body = body[:at] + b'"stale":true' + body[at + len(b'"stale":false') :]
    return body[:-1] + b',"refresh":' + reason_block + b"}"
