"""Purged, expanding walk-forward folds: train strictly before each test year, with a gap.

A training row dated t has a label that ends at session t+h. It is kept only if t+h+embargo
falls before the first test session, so no training label overlaps any test label.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Fold:
    test_year: int
    train_end: pd.Timestamp  # last training date (label dates), after purging
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def walk_forward_folds(
    dates: pd.DatetimeIndex,
    horizon: int,
    first_test_year: int,
    min_train_years: int,
    first_usable: pd.Timestamp,
    embargo: int = 0,
) -> list[Fold]:
    """Yearly test periods over the trading `dates` (every session, not just sample dates).

    The first test year is the later of `first_test_year` and the first year that starts at least
    min_train_years (calendar time) after `first_usable`, so short histories still get a proper
    training window. The last fold ends at the last date whose label is known (h sessions before
    the data ends).
    """
    dates = pd.DatetimeIndex(dates)
    last_labelled = len(dates) - 1 - horizon
    if last_labelled < 0:
        return []
    earliest_test = pd.Timestamp(first_usable) + pd.DateOffset(years=min_train_years)
    start_year = max(first_test_year, earliest_test.year)
    folds = []
    for year in range(start_year, dates[last_labelled].year + 1):
        in_year = (dates.year == year).nonzero()[0]
        in_year = in_year[in_year <= last_labelled]
        if in_year.size == 0:
            continue
        first = in_year[0]
        if dates[first] < earliest_test:  # a mid-year start would leave less than min_train_years
            continue
        cut = first - horizon - embargo - 1  # last training label date index
        if cut < 0 or dates[cut] < first_usable:
            continue
        folds.append(Fold(year, dates[cut], dates[first], dates[in_year[-1]]))
    return folds
