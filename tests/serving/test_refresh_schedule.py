"""The refresh schedule on the exchange's calendar, with a controllable clock (no network, no waiting)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import ConfigError
from serving.config import ServingConfig
from serving.refresh import Schedule, backoff, market_phase, next_due, retry_due, slots

S = Schedule()  # 15 min in session, 5 min after the close
NY = "America/New_York"


def ny(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=NY).tz_convert("UTC")


def test_in_session_every_interval_from_the_open():
    assert market_phase("XNYS", ny("2025-12-02 10:07")).open
    assert next_due(["XNYS"], ny("2025-12-02 10:07"), S) == ny("2025-12-02 10:15")
    assert next_due(["XNYS"], ny("2025-12-02 10:15"), S) == ny("2025-12-02 10:30")  # strictly after
    assert next_due(["XNYS"], ny("2025-12-02 09:00"), S) == ny("2025-12-02 09:30")  # before the open: the open


def test_once_after_the_close_then_nothing_until_the_next_open():
    assert next_due(["XNYS"], ny("2025-12-02 15:50"), S) == ny("2025-12-02 16:05")
    after = next_due(["XNYS"], ny("2025-12-02 16:05"), S)
    assert after == ny("2025-12-03 09:30")
    assert not market_phase("XNYS", ny("2025-12-02 16:05")).open


def test_weekend_and_holiday_are_skipped():
    # Friday 2025-12-05 after the close -> Monday's open
    assert next_due(["XNYS"], ny("2025-12-05 16:05"), S) == ny("2025-12-08 09:30")
    # Wednesday before Thanksgiving (2025-11-27, closed) -> Friday's open
    assert next_due(["XNYS"], ny("2025-11-26 16:05"), S) == ny("2025-11-28 09:30")
    phase = market_phase("XNYS", ny("2025-11-27 12:00"))
    assert not phase.open and phase.session == pd.Timestamp("2025-11-28")


def test_early_close_moves_the_after_close_refresh():
    """The day after Thanksgiving closes at 13:00: the last in-session slot is 12:45, then 13:05."""
    times = slots(ny("2025-11-28 09:30"), ny("2025-11-28 13:00"), S)
    assert times[-2:] == [ny("2025-11-28 12:45"), ny("2025-11-28 13:05")]
    assert next_due(["XNYS"], ny("2025-11-28 12:50"), S) == ny("2025-11-28 13:05")
    assert not market_phase("XNYS", ny("2025-11-28 13:30")).open
    assert market_phase("XNYS", ny("2025-12-01 13:30")).open  # a normal Monday is still open then


def test_daylight_saving_time_is_the_exchange_s():
    """09:30 New York is 14:30 UTC in winter and 13:30 UTC in summer."""
    assert next_due(["XNYS"], pd.Timestamp("2025-12-02 12:00", tz="UTC"), S) == pd.Timestamp(
        "2025-12-02 14:30", tz="UTC"
    )
    assert next_due(["XNYS"], pd.Timestamp("2025-07-01 12:00", tz="UTC"), S) == pd.Timestamp(
        "2025-07-01 13:30", tz="UTC"
    )


def test_two_exchanges_the_earliest_wins():
    """XNYS and London: before New York opens, London's slots are due."""
    due = next_due(["XNYS", "XLON"], ny("2025-12-02 05:00"), S)
    assert due == pd.Timestamp("2025-12-02 10:15", tz="UTC")  # London 10:15 (open 08:00, every 15 min)


def test_backoff_doubles_up_to_the_cap():
    assert [backoff(n, S).total_seconds() for n in range(0, 7)] == [0, 30, 60, 120, 240, 480, 600]


def test_retry_in_session_uses_the_backoff_but_never_passes_the_next_slot():
    assert retry_due(["XNYS"], ny("2025-12-02 10:15:01"), 1, S) == ny("2025-12-02 10:15:31")
    assert retry_due(["XNYS"], ny("2025-12-02 10:15:01"), 6, S) == ny("2025-12-02 10:25:01")
    assert retry_due(["XNYS"], ny("2025-12-02 10:20:00"), 6, S) == ny("2025-12-02 10:30")  # the slot comes first


def test_a_failed_after_close_refresh_is_retried_for_a_while_then_waits_for_the_open():
    assert retry_due(["XNYS"], ny("2025-12-02 16:05"), 3, S) == ny("2025-12-02 16:07")
    # retries land up to 2 h after the after-close slot (16:05 + 2 h = 18:05) ...
    assert retry_due(["XNYS"], ny("2025-12-02 17:50"), 6, S) == ny("2025-12-02 18:00")
    assert retry_due(["XNYS"], ny("2025-12-02 18:00"), 6, S) == ny("2025-12-03 09:30")  # ... then the next open
    assert retry_due(["XNYS"], ny("2025-11-29 12:00"), 1, S) == ny("2025-12-01 09:30")  # Saturday: never


def test_schedule_from_config_and_bad_values_named():
    sched = Schedule.from_config(ServingConfig(refresh_interval_min=5, refresh_after_close_min=1))
    assert next_due(["XNYS"], ny("2025-12-02 10:07"), sched) == ny("2025-12-02 10:10")
    assert next_due(["XNYS"], ny("2025-12-02 15:59"), sched) == ny("2025-12-02 16:01")
    with pytest.raises(ConfigError, match="refresh_interval_min"):
        ServingConfig(refresh_interval_min=0)
    with pytest.raises(ConfigError, match="intraday_interval"):
        ServingConfig(intraday_interval="1d")
