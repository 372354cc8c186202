"""The rotation matrix on the real dumps, checked against an independent calculation."""

from __future__ import annotations

import csv
import math

import pytest

from features.dataset import MarketDataset
from features.matrix import rotation_matrix, tint

AS_OF = "2022-12-30"
WINDOWS = {"1M": 21, "3M": 63, "12M": 252}
SECTORS = ["XLB", "XLC", "XLE", "XLF", "XLI", "XLK", "XLP", "XLRE", "XLU", "XLV", "XLY"]


def _closes(path) -> dict[str, float]:
    """Date -> close with the csv module only: last row wins for a date, unparsable rows skipped."""
    out = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                close = float(row["Close"])
            except (TypeError, ValueError):
                continue
            if close > 0:
                out[row["Date"][:10]] = close
    return out


@pytest.fixture(scope="module")
def loaded(shared_data_dir):
    return MarketDataset.load(f"csv:{shared_data_dir}", "us_sectors")


def test_matrix_matches_independent_calculation(loaded, shared_data_dir):
    m = rotation_matrix(loaded.panels, loaded.universe, AS_OF)
    spy = _closes(shared_data_dir / "SPY.csv")
    days = sorted(d for d in spy if d <= AS_OF)
    assert str(m.as_of.date()) == days[-1] == AS_OF
    assert m.spreads_pp.shape == (11, 3)
    for ticker in SECTORS:
        closes = _closes(shared_data_dir / f"{ticker}.csv")
        for name, w in WINDOWS.items():
            start, end = days[-1 - w], days[-1]
            expected = ((closes[end] / closes[start] - 1) - (spy[end] / spy[start] - 1)) * 100
            assert m.spreads_pp.loc[ticker, name] == pytest.approx(expected, abs=1e-6), (ticker, name)
            assert m.tints().loc[ticker, name] == (
                "neutral" if abs(expected) < 0.5 else ("bull" if expected > 0 else "bear")
            )
    twelve = list(m.spreads_pp["12M"])
    assert twelve == sorted(twelve, reverse=True)
    assert m.spreads_pp.index[0] == "XLE"  # energy led 2022 by a wide margin


def test_matrix_json_and_leadership(loaded):
    d = rotation_matrix(loaded.panels, loaded.universe, AS_OF).to_dict()
    assert [r["ticker"] for r in d["rows"]][0] == "XLE"
    assert set(d["leadership"]) == set(WINDOWS)
    for lead in d["leadership"].values():
        means = lead["cohort_mean_spread_pp"]
        best = max(means, key=means.get)
        assert lead["leader"] in (best, "mixed")
    assert "heuristic" in d["leadership_rule"]


def test_as_of_on_a_holiday_uses_the_previous_session(loaded):
    m = rotation_matrix(loaded.panels, loaded.universe, "2022-12-25")
    assert str(m.as_of.date()) == "2022-12-23"


def test_tint_boundaries():
    assert tint(0.4994, 0.5) == "neutral"
    assert tint(-0.4994, 0.5) == "neutral"
    assert tint(0.4996, 0.5) == "bull"  # displayed as +0.500: tinted as shown
    assert tint(0.5, 0.5) == "bull"
    assert tint(-0.5, 0.5) == "bear"
    assert tint(math.nan, 0.5) == "n/a"
