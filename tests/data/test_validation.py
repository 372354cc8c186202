"""Validation and repair: planted defects in small CSVs, checked value by value and finding by finding.

Synthetic bars sit on real XNYS sessions; a file's line number is its frame index + 2.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.calendar import sessions
from features.findings import DataValidationError
from features.sources.csv_dir import load_csv_dir
from features.validation import ValidationConfig, validate

N = 80
DAYS = sessions("XNYS", "2021-01-04", "2021-12-31")[:N]
SPLIT_AT = 40  # index of the first row after the split


def bars_of(seed: int, n: int = N, vol: float = 0.01) -> pd.DataFrame:
    """A yfinance-style frame: a random walk with consistent OHLC and volume."""
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = close * np.exp(rng.normal(0, vol / 3, n))
    return pd.DataFrame(
        {
            "Date": DAYS[:n].strftime("%Y-%m-%d"),
            "Close": close,
            "High": np.maximum(open_, close) * 1.004,
            "Low": np.minimum(open_, close) * 0.996,
            "Open": open_,
            "Volume": rng.integers(10_000, 20_000, n).astype(float),
        }
    )


def market(tickers=("SPY", "AAA", "BBB", "CCC")) -> dict[str, pd.DataFrame]:
    return {t: bars_of(i) for i, t in enumerate(tickers)}


def load(tmp_path, frames: dict[str, pd.DataFrame], benchmark: str | None = "SPY", **kw):
    for t, df in frames.items():
        df.to_csv(tmp_path / f"{t}.csv", index=False)
    required = [benchmark] if benchmark else []
    return load_csv_dir(tmp_path, required, [t for t in frames if t != benchmark], benchmark=benchmark, **kw)


def of(report, ticker: str, kind: str | None = None):
    return [f for f in report.findings if f.ticker == ticker and (kind is None or f.kind == kind)]


def series(bars, ticker: str) -> pd.DataFrame:
    return bars[bars["ticker"] == ticker].set_index("date")


def day(i: int) -> pd.Timestamp:
    return DAYS[i]


def test_clean_market_has_no_findings(tmp_path):
    frames = market()
    bars, report = load(tmp_path, frames)
    assert report.findings == []
    got = series(bars, "AAA")
    assert np.allclose(got["close"].to_numpy(), frames["AAA"]["Close"].to_numpy())
    assert list(bars.columns) == ["date", "ticker", "open", "high", "low", "close", "volume"]


def test_duplicates_keep_the_last_occurrence_and_say_when_they_disagree(tmp_path):
    frames = market()
    aaa = frames["AAA"]
    newer = aaa.iloc[[10, 11]].copy()
    newer.loc[newer.index[0], "Close"] *= 1.05  # a re-download that disagrees by 5 %
    newer.loc[newer.index[0], "High"] *= 1.05
    frames["AAA"] = pd.concat([aaa, newer], ignore_index=True)  # appended block: lines N+2, N+3
    bars, report = load(tmp_path, frames)

    got = series(bars, "AAA")
    assert len(got) == N and got.index.is_unique and got.index.is_monotonic_increasing
    assert got.loc[day(10), "close"] == pytest.approx(aaa["Close"].iloc[10] * 1.05)
    assert got.loc[day(11), "close"] == pytest.approx(aaa["Close"].iloc[11])

    dups = of(report, "AAA", "duplicate_date")
    assert [(f.action, f.row, f.date) for f in dups] == [
        ("dropped", 12, day(10).strftime("%Y-%m-%d")),
        ("dropped", 13, day(11).strftime("%Y-%m-%d")),
    ]
    assert "DISAGREES by 4.8%" in dups[0].detail and f"row {N + 2}" in dups[0].detail
    assert "DISAGREES" not in dups[1].detail
    (conflict,) = of(report, "AAA", "duplicate_conflict")
    assert conflict.action == "noted" and conflict.row == 12 and "1 duplicated date" in conflict.detail
    # The appended block is dated before rows above it: sorted and reported too.
    assert [(f.action, f.row) for f in of(report, "AAA", "unsorted")] == [("repaired", N + 2), ("repaired", N + 3)]


def test_unsorted_rows_are_sorted_and_reported(tmp_path):
    frames = market()
    aaa = frames["AAA"]
    frames["AAA"] = aaa.iloc[[*range(5), 6, 5, *range(7, N)]].reset_index(drop=True)
    bars, report = load(tmp_path, frames)
    got = series(bars, "AAA")
    assert got.index.is_monotonic_increasing
    assert got.loc[day(5), "close"] == pytest.approx(aaa["Close"].iloc[5])
    (f,) = of(report, "AAA")
    assert (f.kind, f.action, f.row, f.date) == ("unsorted", "repaired", 8, day(5).strftime("%Y-%m-%d"))


def test_bad_prices_are_dropped_or_repaired_row_by_row(tmp_path):
    frames = market()
    aaa = frames["AAA"].copy()
    orig = aaa.copy()
    aaa["Close"] = aaa["Close"].astype(object)
    aaa.loc[3, "Close"] = ""  # missing close -> drop (line 5)
    aaa.loc[4, "Close"] = -5.0  # non-positive close -> drop (line 6)
    aaa.loc[5, "Open"] = np.nan  # missing open -> open = close (line 7)
    aaa.loc[6, "High"] = 0.0  # invalid high -> max(open, close) (line 8)
    aaa.loc[6, "Low"] = np.nan  # and low -> min(open, close)
    aaa.loc[7, ["High", "Low"]] = [orig.loc[7, "Low"], orig.loc[7, "High"]]  # high < low (line 9)
    aaa.loc[8, "Close"] = orig.loc[8, "High"] * 1.1  # close above high (line 10)
    aaa.loc[9, "Volume"] = -100.0  # negative volume (line 11)
    frames["AAA"] = aaa
    bars, report = load(tmp_path, frames)
    got = series(bars, "AAA")

    assert day(3) not in got.index and day(4) not in got.index and len(got) == N - 2
    assert got.loc[day(5), "open"] == pytest.approx(orig.loc[5, "Close"])
    o6, c6 = orig.loc[6, "Open"], orig.loc[6, "Close"]
    assert got.loc[day(6), "high"] == pytest.approx(max(o6, c6))
    assert got.loc[day(6), "low"] == pytest.approx(min(o6, c6))
    assert got.loc[day(7), "high"] == pytest.approx(orig.loc[7, "High"])
    assert got.loc[day(7), "low"] == pytest.approx(orig.loc[7, "Low"])
    assert got.loc[day(8), "high"] == pytest.approx(orig.loc[8, "High"] * 1.1)
    assert got.loc[day(8), "low"] == pytest.approx(orig.loc[8, "Low"])
    assert math.isnan(got.loc[day(9), "volume"])

    assert {(f.kind, f.action, f.row) for f in of(report, "AAA")} == {
        ("missing_price", "dropped", 5),
        ("nonpositive_price", "dropped", 6),
        ("missing_ohl", "repaired", 7),
        ("missing_ohl", "repaired", 8),
        ("high_below_low", "repaired", 9),
        ("close_outside_range", "repaired", 10),
        ("negative_volume", "repaired", 11),
        ("calendar_gap", "noted", None),  # the two dropped rows leave a hole; it is not filled
    }
    assert of(report, "AAA", "calendar_gap")[0].detail.startswith("2 XNYS session(s) missing")
    assert all(f.where.endswith("AAA.csv") for f in report.findings)
    assert of(report, "AAA", "missing_ohl")[1].detail.startswith("high 0, low NaN invalid")


def _unadjust(df: pd.DataFrame, ratio: float, at: int = SPLIT_AT) -> pd.DataFrame:
    """Undo a split's back-adjustment: rows before `at` priced `ratio` times higher."""
    out = df.copy()
    out.loc[: at - 1, ["Close", "High", "Low", "Open"]] *= ratio
    out.loc[: at - 1, "Volume"] /= ratio
    return out


@pytest.mark.parametrize(
    "ratio, label",
    [(2.0, "2:1 split"), (1.5, "3:2 split"), (0.1, "1:10 reverse split"), (1 / 1.5, "2:3 reverse split")],
)
def test_unadjusted_split_is_back_adjusted(tmp_path, ratio, label):
    frames = market()
    adjusted = frames["AAA"]
    frames["AAA"] = _unadjust(adjusted, ratio)
    bars, report = load(tmp_path, frames)
    got = series(bars, "AAA")
    for col in ("Close", "High", "Low", "Open", "Volume"):
        assert np.allclose(got[col.lower()].to_numpy(), adjusted[col].to_numpy(), rtol=1e-12), col
    (f,) = of(report, "AAA")
    assert (f.kind, f.action, f.row, f.date) == (
        "unadjusted_split",
        "repaired",
        SPLIT_AT + 2,
        day(SPLIT_AT).strftime("%Y-%m-%d"),
    )
    assert label in f.detail and f"the {SPLIT_AT} earlier row(s)" in f.detail


def test_split_found_against_cross_section_without_benchmark(tmp_path):
    frames = market()
    adjusted = frames["BBB"]
    frames["BBB"] = _unadjust(adjusted, 2.0)
    bars, report = load(tmp_path, frames, benchmark=None)
    assert np.allclose(series(bars, "BBB")["close"].to_numpy(), adjusted["Close"].to_numpy())
    assert [(f.ticker, f.kind) for f in report.findings] == [("BBB", "unadjusted_split")]


def test_market_wide_crash_is_not_adjusted(tmp_path):
    frames = {t: _unadjust(df, 2.0) for t, df in market().items()}  # everyone halves on one day
    bars, report = load(tmp_path, frames)
    assert report.findings == []
    assert np.allclose(series(bars, "AAA")["close"].to_numpy(), frames["AAA"]["Close"].to_numpy())
    bars, report = load(tmp_path, frames, benchmark=None)
    assert report.findings == []


def test_volatile_series_and_indices_are_not_split_adjusted(tmp_path):
    frames = market()
    frames["^VIX"] = _unadjust(bars_of(7), 0.5)  # an index doubling is a market move
    wild = bars_of(8, vol=0.12)  # 12 % a day: a halving is a ~6 sigma day, not a split
    step = wild["Close"].iloc[SPLIT_AT] / wild["Close"].iloc[SPLIT_AT - 1]
    frames["WILD"] = _unadjust(wild, step / 0.505)  # close-to-close x0.505: within 0.03 of 2:1
    bars, report = load(tmp_path, frames)
    assert report.findings == []
    assert np.allclose(series(bars, "^VIX")["close"].to_numpy(), frames["^VIX"]["Close"].to_numpy())


def test_small_steps_where_blocks_meet_are_left_alone(tmp_path):
    frames = market()
    frames["AAA"] = _unadjust(frames["AAA"], 1.02)  # a 2 % dividend-adjustment step
    bars, report = load(tmp_path, frames)
    assert report.findings == []
    assert np.allclose(series(bars, "AAA")["close"].to_numpy(), frames["AAA"]["Close"].to_numpy())


def test_gaps_are_noted_not_filled(tmp_path):
    frames = market()
    frames["AAA"] = frames["AAA"].drop(index=[20, 21, 22, 40]).reset_index(drop=True)
    bars, report = load(tmp_path, frames)
    assert len(series(bars, "AAA")) == N - 4
    (f,) = of(report, "AAA")
    assert (f.kind, f.action, f.date) == ("calendar_gap", "noted", day(20).strftime("%Y-%m-%d"))
    assert f.detail.startswith("4 XNYS session(s) missing")
    assert f"largest gap 3 session(s) from {day(20):%Y-%m-%d} to {day(22):%Y-%m-%d}" in f.detail


def test_rows_on_non_sessions_are_dropped(tmp_path):
    frames = market()
    aaa = frames["AAA"]
    saturday = (day(10) + pd.offsets.Week(weekday=5)).strftime("%Y-%m-%d")
    at = int(np.searchsorted(DAYS, pd.Timestamp(saturday)))  # keep the file in date order
    extra = aaa.iloc[[at - 1]].assign(Date=saturday)
    frames["AAA"] = pd.concat([aaa.iloc[:at], extra, aaa.iloc[at:]], ignore_index=True)
    bars, report = load(tmp_path, frames)
    got = series(bars, "AAA")
    assert len(got) == N and pd.Timestamp(saturday) not in got.index
    (f,) = of(report, "AAA")
    assert (f.kind, f.action, f.row, f.date) == ("non_session", "dropped", at + 2, saturday)


def test_stale_series_is_noted_with_its_last_date(tmp_path):
    frames = market()
    frames["AAA"] = frames["AAA"].iloc[: N - 15]  # ends 15 sessions early: stale
    frames["BBB"] = frames["BBB"].iloc[: N - 5]  # 5 sessions: fine
    frames["CCC"] = frames["CCC"].iloc[30:]  # starts late: fine
    bars, report = load(tmp_path, frames)
    assert [(f.ticker, f.kind, f.action) for f in report.findings] == [("AAA", "stale", "noted")]
    f = report.findings[0]
    assert f.date == day(N - 16).strftime("%Y-%m-%d") and "15 XNYS sessions before" in f.detail
    assert len(series(bars, "AAA")) == N - 15  # nothing invented


def test_series_without_usable_rows_is_refused_and_dropped():
    frames = {t: df.rename(columns=str.lower) for t, df in market().items()}
    frames["AAA"] = frames["AAA"].assign(close=np.nan)
    bars, report = validate(frames, {t: f"{t}.csv" for t in frames}, benchmark="SPY")
    assert "AAA" not in set(bars["ticker"])
    (refused,) = report.refused
    assert (refused.ticker, refused.kind) == ("AAA", "no_usable_rows")
    (missing,) = of(report, "AAA", "missing_price")  # 80 rows -> one summary finding
    assert missing.detail.startswith(f"{N} rows:") and missing.row is None


def test_benchmark_without_usable_rows_raises():
    frames = {t: df.rename(columns=str.lower) for t, df in market().items()}
    frames["SPY"] = frames["SPY"].assign(close=-1.0)
    with pytest.raises(DataValidationError, match="benchmark SPY") as err:
        validate(frames, {"SPY": "SPY.csv"}, benchmark="SPY")
    assert err.value.report.refused[0].ticker == "SPY"


def test_as_of_ignores_later_rows():
    frames = {t: df.rename(columns=str.lower) for t, df in market().items()}
    bars, report = validate(frames, {}, benchmark="SPY", as_of=day(29))
    assert bars["date"].max() == day(29) and (bars.groupby("ticker").size() == 30).all()
    assert report.findings == []


def test_many_rows_of_one_kind_make_one_summary_finding(tmp_path):
    frames = market()
    aaa = frames["AAA"].copy()
    rows = list(range(10, 22))
    aaa.loc[rows, "Volume"] = -1.0
    frames["AAA"] = aaa
    _, report = load(tmp_path, frames)
    (f,) = of(report, "AAA")
    assert (f.kind, f.row) == ("negative_volume", 12)
    assert f.detail.startswith("12 rows:") and "rows 12, 13, 14" in f.detail


def test_config_is_respected():
    frames = {t: df.rename(columns=str.lower) for t, df in market().items()}
    frames["AAA"] = frames["AAA"].iloc[: N - 5]
    _, report = validate(frames, {}, benchmark="SPY", config=ValidationConfig(stale_sessions=3))
    assert [(f.ticker, f.kind) for f in report.findings] == [("AAA", "stale")]
