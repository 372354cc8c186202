"""Sector series from constituents, and universe files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.bars import tidy_bars
from features.config import FeatureConfig
from features.sectors import sector_panels
from features.universe import UniverseError, load_universe, universe_from_mapping

DATES = pd.bdate_range("2022-01-03", periods=6)
SHORT = FeatureConfig(min_member_sessions=1)  # these hand-made series are six days long


def _bars(prices: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for ticker, closes in prices.items():
        for d, c in zip(DATES, closes):
            if c is not None:
                rows.append(
                    {
                        "date": d,
                        "ticker": ticker,
                        "open": c,
                        "high": c * 1.01,
                        "low": c * 0.99,
                        "close": c,
                        "volume": 100.0,
                    }
                )
    return tidy_bars(pd.DataFrame(rows))


def _universe(weights=None):
    return universe_from_mapping(
        {
            "name": "t",
            "benchmark": "IDX",
            "sectors": [
                {"name": "A", "members": ["a1", "a2", "a3"], **({"weights": weights} if weights else {})},
                {"name": "B", "members": ["b1"]},
            ],
        }
    )


def test_equal_weight_index_with_listing_and_delisting():
    bars = _bars(
        {
            "IDX": [100, 101, 102, 103, 104, 105],
            "a1": [10, 11, 12.1, 12.1, 13.31, 13.31],
            "a2": [20, 20, 20, None, None, None],  # delists after day 3
            "a3": [None, None, 5, 6, 6, 6],  # lists on day 3
            "b1": [1, 1, 1, 1, 1, 1],
        }
    )
    p = sector_panels(bars, _universe(), max_fill=0, config=SHORT)
    # independent: mean of members' returns among those with closes on both days
    r = [np.mean([0.1, 0.0]), np.mean([0.1, 0.0]), np.mean([0.0, 0.2]), np.mean([0.1, 0.0]), np.mean([0.0, 0.0])]
    expected = 100 * np.cumprod([1, *[1 + x for x in r]])
    np.testing.assert_allclose(p.close["A"].to_numpy(), expected)
    assert (p.close["B"] == 100).all()
    assert p.names == {"A": "A", "B": "B"}


def test_cap_weights_tilt_the_index():
    bars = _bars(
        {
            "IDX": [1] * 6,
            "a1": [10, 11, 11, 11, 11, 11],
            "a2": [10, 10, 10, 10, 10, 10],
            "a3": [10, 10, 10, 10, 10, 10],
            "b1": [1] * 6,
        }
    )
    p = sector_panels(bars, _universe(weights={"a1": 3.0, "a2": 1.0, "a3": 1.0}), config=SHORT)
    # caps as of the last day; constant shares: a1's weight the day before its rise is 3 x 10/11
    w = 3.0 * 10 / 11
    assert p.close["A"].iloc[1] == pytest.approx(100 * (1 + 0.1 * w / (w + 2)))


def test_late_etf_sector_is_missing_not_dropped():
    bars = _bars({"SPY": [100] * 6, "XLK": [10] * 6, "XLC": [None, None, None, 5, 5, 5]})
    u = universe_from_mapping(
        {
            "name": "t",
            "benchmark": "SPY",
            "sectors": [{"name": "Tech", "ticker": "XLK"}, {"name": "Comm", "ticker": "XLC"}],
        }
    )
    p = sector_panels(bars, u)
    assert list(p.sectors) == ["XLK", "XLC"]
    assert p.close["XLC"].isna().sum() == 3 and p.close["XLC"].iloc[3:].eq(5).all()


def test_shipped_universe_is_complete():
    u = load_universe("us_sectors")
    assert u.benchmark == "SPY" and len(u.sectors) == 11
    assert {s.ticker for s in u.sectors} == {
        "XLB",
        "XLC",
        "XLE",
        "XLF",
        "XLI",
        "XLK",
        "XLP",
        "XLRE",
        "XLU",
        "XLV",
        "XLY",
    }
    assert u.cohort_of("XLU") == "defensive" and u.cohort_of("XLE") == "late_cycle"


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"benchmark": "X", "sectors": []}, "missing required field 'name'"),
        ({"name": "u", "benchmark": "X", "sectors": [{"name": "A"}]}, "exactly one of 'ticker' or 'members'"),
        (
            {"name": "u", "benchmark": "X", "sectors": [{"name": "A", "ticker": "T"}], "cohorts": {"boom": ["A"]}},
            "cohort 'boom'",
        ),
        (
            {"name": "u", "benchmark": "X", "sectors": [{"name": "A", "ticker": "T"}], "cohorts": {"defensive": ["Z"]}},
            "unknown sectors",
        ),
    ],
)
def test_bad_universe_names_the_problem(raw, words):
    with pytest.raises(UniverseError, match=words):
        universe_from_mapping(raw, "my.yaml")


def test_unknown_universe_name_lists_the_shipped_ones():
    with pytest.raises(UniverseError, match="us_sectors"):
        load_universe("nope")


def test_cap_weighted_index_does_not_jump_when_a_big_member_lists_or_leaves():
    bars = _bars(
        {
            "IDX": [1] * 6,
            "a1": [10, 10, 11, 11, 11, 11],
            "a2": [None, None, 1000, 1500, 1500, None],  # lists on day 3 at 1000, doubles its cap, leaves on day 6
            "a3": [10, 10, 10, 10, 10, 10],
            "b1": [1] * 6,
        }
    )
    p = sector_panels(bars, _universe(weights={"a1": 1.0, "a2": 50.0, "a3": 1.0}), max_fill=0, config=SHORT)
    level = p.close["A"].to_numpy()
    # constant shares = cap / last close; a day's weights are shares x the day before's close.
    # Day 3: a2 only lists (no return yet, no weight): the level moves by a1's +10% against a3 alone
    shares = {"a1": 1.0 / 11, "a3": 1.0 / 10}
    w1, w3 = shares["a1"] * 10, shares["a3"] * 10
    assert level[2] / level[1] == pytest.approx(1 + 0.1 * w1 / (w1 + w3))
    # day 4: a2's +50% counts at its cap the day before (50 shares' worth at 1000 vs the others)
    a2_shares = 50.0 / 1500
    w = {"a1": shares["a1"] * 11, "a2": a2_shares * 1000, "a3": shares["a3"] * 10}
    assert level[3] / level[2] == pytest.approx(1 + 0.5 * w["a2"] / sum(w.values()))
    assert level[5] == pytest.approx(level[4])  # a2 leaves: the others are flat, so is the index
    assert p.members["A"].tolist() == [2, 2, 3, 3, 3, 2]


def test_members_with_too_little_history_are_left_out_and_named():
    bars = _bars(
        {
            "IDX": [1] * 6,
            "a1": [10, 11, 12.1, 13.31, 14.641, 16.1051],  # +10% a day
            "a2": [None, None, None, None, 20, 40],  # two sessions: too short for min_member_sessions=3
            "a3": [10, 11, 12.1, 13.31, 14.641, 16.1051],
            "b1": [1] * 6,
        }
    )
    p = sector_panels(bars, _universe(), max_fill=0, config=FeatureConfig(min_member_sessions=3))
    np.testing.assert_allclose(p.close["A"].to_numpy(), 100 * 1.1 ** np.arange(6))  # a2's +100% is not in it
    m = p.membership["A"]
    assert m.count == "2/3" and m.left_out == {"a2": "only 2 sessions of history (fewer than 3)"}
    assert p.membership_notes() == [
        "sector A: 2/3 members used, left out a2: only 2 sessions of history (fewer than 3)"
    ]
    assert p.members["A"].tolist() == [2] * 6


def test_member_seasoning_is_causal():
    """A member listed after the data starts counts once it has min_member_sessions closes, decided from the
    past only: cutting the data ten sessions after it lists changes no sector value up to the cut."""
    from features.sources.demo import demo_market

    bars, universe = demo_market(sectors=3, stocks=20, years=3, seed=8, end="2024-06-28")
    dates = np.sort(bars["date"].unique())
    late = "S02_0005"
    bars = bars[(bars["ticker"] != late) | (bars["date"] >= dates[300])].reset_index(drop=True)  # lists on day 300
    cut = dates[310]
    cfg = FeatureConfig(min_member_sessions=21)
    full = sector_panels(bars, universe, config=cfg)
    part = sector_panels(bars[bars["date"] <= cut].reset_index(drop=True), universe, config=cfg)
    for field in ("open", "high", "low", "close", "volume", "members"):
        np.testing.assert_array_equal(getattr(part, field).to_numpy(), getattr(full, field).loc[:cut].to_numpy())
    assert late in part.membership["Sector 02"].left_out and late not in full.membership["Sector 02"].left_out
    assert full.members["Sector 02"].loc[dates[319]] < full.members["Sector 02"].loc[dates[320]]  # counts from 21


def test_a_current_members_only_universe_tags_its_runs_with_survivorship_bias():
    from dataclasses import replace

    from features.dataset import MarketDataset
    from training.tracking import data_tags

    bars = _bars({"IDX": [1] * 6, "a1": [1] * 6, "a2": [1] * 6, "a3": [1] * 6, "b1": [1] * 6})
    plain = MarketDataset.from_bars(bars, _universe(), "demo", SHORT)
    assert "survivorship_bias" not in data_tags(plain)
    current = MarketDataset.from_bars(bars, replace(_universe(), current_members_only=True), "demo", SHORT)
    assert "today's 4 members only" in data_tags(current)["survivorship_bias"]
