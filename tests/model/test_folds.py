"""Purged walk-forward folds, checked with plain index arithmetic on the session list."""

from __future__ import annotations

import pandas as pd
import pytest

from training.folds import walk_forward_folds

DATES = pd.bdate_range("2005-03-14", "2016-08-10")  # weekday sessions; the folds need no real calendar
FIRST_USABLE = DATES[260]  # a year of features first exists mid-2006


def idx(day) -> int:
    return DATES.get_loc(pd.Timestamp(day))


@pytest.mark.parametrize("horizon", [5, 21, 63])
@pytest.mark.parametrize("embargo", [0, 3])
def test_no_training_label_reaches_into_the_test_period(horizon, embargo):
    folds = walk_forward_folds(DATES, horizon, 2000, 3, FIRST_USABLE, embargo)
    assert folds
    for f in folds:
        label_end = idx(f.train_end) + horizon  # the label of the last training row ends here
        assert label_end + embargo < idx(f.test_start), f
        # nothing is wasted either: one more training row would overlap
        assert label_end + embargo + 1 == idx(f.test_start), f
        assert f.train_end >= FIRST_USABLE


@pytest.mark.parametrize("horizon", [5, 21, 63])
def test_test_periods_are_whole_years_ordered_and_disjoint(horizon):
    folds = walk_forward_folds(DATES, horizon, 2000, 3, FIRST_USABLE)
    last_labelled = len(DATES) - 1 - horizon
    years = [f.test_year for f in folds]
    assert years == list(range(years[0], years[-1] + 1))  # consecutive, no gaps
    for f in folds:
        s, e = idx(f.test_start), idx(f.test_end)
        assert f.test_start.year == f.test_end.year == f.test_year
        assert s == 0 or DATES[s - 1].year < f.test_year  # starts on the year's first session
        assert e <= last_labelled  # every test row has a known label
    for a, b in zip(folds, folds[1:]):
        assert a.test_end < b.test_start
        assert idx(a.test_end) + 1 == idx(b.test_start)  # back to back: every session is tested once
    for f in folds[:-1]:
        assert DATES[idx(f.test_end) + 1].year > f.test_year  # full years except the last
    assert idx(folds[-1].test_end) == last_labelled  # the last fold runs to the last labelled session
    assert folds[-1].test_year == DATES[last_labelled].year


@pytest.mark.parametrize("min_years", [1, 3, 5])
def test_first_test_year_leaves_min_train_years_of_history(min_years):
    folds = walk_forward_folds(DATES, 21, 2000, min_years, FIRST_USABLE)
    earliest = FIRST_USABLE + pd.DateOffset(years=min_years)
    # independently: the first year whose first session is at least min_years after FIRST_USABLE
    expected = next(y for y in range(2005, 2017) if DATES[DATES.year == y][0] >= earliest)
    assert folds[0].test_year == expected
    assert folds[0].test_start >= earliest
    assert all(f.test_start - FIRST_USABLE >= pd.Timedelta(days=365 * min_years) for f in folds)


def test_first_test_year_setting_wins_when_later():
    folds = walk_forward_folds(DATES, 21, 2013, 3, FIRST_USABLE)
    assert folds[0].test_year == 2013
    assert folds[0].test_start == DATES[DATES.year == 2013][0]


def test_no_fold_when_history_is_too_short():
    short = DATES[: 252 * 3]  # ~3 years of sessions, first usable after one of them
    assert walk_forward_folds(short, 21, 2000, 3, short[252]) == []
    assert walk_forward_folds(DATES[:20], 21, 2000, 0, DATES[0]) == []  # not even one label
    assert walk_forward_folds(DATES[:0], 5, 2000, 0, DATES[0]) == []
