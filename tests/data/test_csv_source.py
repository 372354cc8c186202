"""The csv:DIR reader: messy yfinance-style files in, raw bars plus line-numbered findings out."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from features.calendar import sessions
from features.findings import DataValidationError
from features.sources.csv_dir import load_csv_dir, read_csv_file
from features.validation import validate

HEADER = "Date,Close,High,Low,Open,Volume"
GOOD = [  # three consecutive XNYS sessions
    "2021-03-01,10.5,11.0,10.0,10.2,1000",
    "2021-03-02,10.8,11.2,10.4,10.6,1100",
    "2021-03-03,10.1,10.9,9.9,10.8,1200",
]


def write(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def kinds(report):
    return [(f.kind, f.action, f.row) for f in report.findings]


def test_clean_file_reads_values_and_line_numbers(tmp_path):
    raw, report = read_csv_file(write(tmp_path, "AAA.csv", [HEADER, *GOOD]), "AAA")
    assert report.findings == []
    assert list(raw.columns) == ["date", "open", "high", "low", "close", "volume", "row"]
    assert raw["row"].tolist() == [2, 3, 4]
    assert raw["date"].dt.strftime("%Y-%m-%d").tolist() == ["2021-03-01", "2021-03-02", "2021-03-03"]
    assert raw["close"].tolist() == [10.5, 10.8, 10.1]
    assert raw["open"].tolist() == [10.2, 10.6, 10.8]
    assert raw["volume"].tolist() == [1000.0, 1100.0, 1200.0]


def test_stray_header_rows_are_dropped_and_reported_with_line(tmp_path):
    lines = [HEADER, ",XLE,XLE,XLE,XLE,XLE", GOOD[0], GOOD[1], HEADER, GOOD[2]]
    raw, report = read_csv_file(write(tmp_path, "XLE.csv", lines), "XLE")
    assert kinds(report) == [("stray_header", "dropped", 2), ("stray_header", "dropped", 5)]
    assert "XLE,XLE" in report.findings[0].detail
    assert report.findings[0].where.endswith("XLE.csv")
    assert raw["row"].tolist() == [3, 4, 6]
    assert raw["close"].tolist() == [10.5, 10.8, 10.1]


def test_unparsable_and_overlong_lines_are_reported(tmp_path):
    lines = [HEADER, GOOD[0], "not-a-date,1,2,0.5,1,10", GOOD[1], "2021-03-04,1,2,0.5,1,10,99", GOOD[2]]
    raw, report = read_csv_file(write(tmp_path, "AAA.csv", lines), "AAA")
    got = kinds(report)
    assert ("unparsable_row", "dropped", 3) in got
    assert ("unparsable_row", "dropped", 5) in got
    assert len(got) == 2
    assert raw["row"].tolist() == [2, 4, 6]


def test_blank_lines_keep_line_numbers_right(tmp_path):
    lines = [HEADER, GOOD[0], "", GOOD[1], ",XLE,XLE,XLE,XLE,XLE", GOOD[2]]
    raw, report = read_csv_file(write(tmp_path, "AAA.csv", lines), "AAA")
    assert raw["row"].tolist() == [2, 4, 6]
    assert kinds(report) == [("stray_header", "dropped", 5)]


def test_column_order_case_extra_columns_and_adj_close(tmp_path):
    lines = [
        "volume,OPEN,adj close,Note,low,HIGH,close,date",
        "1000,10.2,10.0,x,10.0,11.0,10.5,2021-03-01",
        "1100,10.6,10.3,y,10.4,11.2,10.8,2021-03-02",
    ]
    raw, report = read_csv_file(write(tmp_path, "AAA.csv", lines), "AAA")
    assert raw["close"].tolist() == [10.5, 10.8]
    assert raw["open"].tolist() == [10.2, 10.6]
    assert raw["high"].tolist() == [11.0, 11.2]
    assert raw["low"].tolist() == [10.0, 10.4]
    assert raw["volume"].tolist() == [1000.0, 1100.0]
    (note,) = report.findings
    assert (note.kind, note.action) == ("adj_close_ignored", "noted")
    assert "differs" in note.detail and "Close is used" in note.detail


def test_adj_close_equal_to_close_is_noted_as_already_adjusted(tmp_path):
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume", "2021-03-01,10,11,9,10.5,10.5,5"]
    _, report = read_csv_file(write(tmp_path, "AAA.csv", lines), "AAA")
    assert [f.kind for f in report.findings] == ["adj_close_ignored"]
    assert "already adjusted" in report.findings[0].detail


def test_dates_with_time_and_timezone_keep_the_local_day(tmp_path):
    lines = [
        HEADER,
        "2021-03-01 00:00:00-05:00,10.5,11,10,10.2,1",
        "2021-03-02T00:00:00Z,10.8,11.2,10.4,10.6,1",
        "03/03/2021,10.1,10.9,9.9,10.8,1",
    ]
    raw, report = read_csv_file(write(tmp_path, "AAA.csv", lines), "AAA")
    assert raw["date"].dt.strftime("%Y-%m-%d").tolist() == ["2021-03-01", "2021-03-02", "2021-03-03"]
    assert report.findings == []


def test_bad_numbers_become_nan_not_dropped(tmp_path):
    lines = [HEADER, "2021-03-01,null,11,10,abc,1000", GOOD[1]]
    raw, report = read_csv_file(write(tmp_path, "AAA.csv", lines), "AAA")
    assert raw["row"].tolist() == [2, 3]
    assert math.isnan(raw["close"].iloc[0]) and math.isnan(raw["open"].iloc[0])
    assert raw["high"].iloc[0] == 11.0
    assert report.findings == []  # judged (and reported) by validate, with the row kept for it


def test_yfinance_multiindex_layout(tmp_path):
    lines = ["Price,Close,High,Low,Open,Volume", "Ticker,XLK,XLK,XLK,XLK,XLK", "Date,,,,,", *GOOD]
    raw, report = read_csv_file(write(tmp_path, "XLK.csv", lines), "XLK")
    assert kinds(report) == [("stray_header", "dropped", 2), ("stray_header", "dropped", 3)]
    assert raw["close"].tolist() == [10.5, 10.8, 10.1]


def test_missing_optional_columns_are_noted(tmp_path):
    raw, report = read_csv_file(write(tmp_path, "AAA.csv", ["Date,Close", "2021-03-01,10.5"]), "AAA")
    assert raw["close"].tolist() == [10.5]
    assert raw[["open", "high", "low", "volume"]].isna().all().all()
    (f,) = report.findings
    assert (f.kind, f.action, f.row) == ("missing_column", "noted", 1)
    assert "open, high, low, volume" in f.detail


@pytest.mark.parametrize(
    "lines, needle",
    [
        ([], "empty"),
        (["Close,High,Low,Open,Volume", "10,11,9,10,1"], "no Date column"),
        (["Date,High,Low,Open,Volume", "2021-03-01,11,9,10,1"], "no Close column"),
        (["Date,Adj Close,Volume", "2021-03-01,10,1"], "Adj Close only"),
    ],
)
def test_unusable_files_are_refused_naming_the_file(tmp_path, lines, needle):
    path = tmp_path / "BAD.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(DataValidationError) as err:
        read_csv_file(path, "BAD")
    assert str(path) in str(err.value) and needle in str(err.value)
    (f,) = err.value.report.findings
    assert (f.ticker, f.action, f.where) == ("BAD", "refused", str(path))


# --- load_csv_dir ------------------------------------------------------------------------


def test_load_dir_reads_literal_ticker_file_names(tmp_path):
    for name in ("SPY", "^VIX", "CL=F"):
        write(tmp_path, f"{name}.csv", [HEADER, *GOOD])
    bars, report = load_csv_dir(tmp_path, ["SPY"], ["^VIX", "CL=F", "UUP"], benchmark="SPY")
    assert sorted(bars["ticker"].unique()) == ["CL=F", "SPY", "^VIX"]
    assert len(bars) == 9
    (f,) = report.findings
    assert (f.ticker, f.kind, f.action) == ("UUP", "missing_file", "noted")


def test_load_dir_missing_required_file_names_folder_and_ticker(tmp_path):
    write(tmp_path, "SPY.csv", [HEADER, *GOOD])
    with pytest.raises(DataValidationError) as err:
        load_csv_dir(tmp_path, ["SPY", "XLK"], [], benchmark="SPY")
    assert str(tmp_path) in str(err.value) and "XLK.csv" in str(err.value)
    assert any(f.ticker == "XLK" and f.action == "refused" for f in err.value.report.findings)


def test_load_dir_missing_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataValidationError, match="does not exist") as err:
        load_csv_dir(missing, ["SPY"], [])
    assert str(missing) in str(err.value)


def test_load_dir_empty_optional_file_is_refused_but_load_goes_on(tmp_path):
    write(tmp_path, "SPY.csv", [HEADER, *GOOD])
    (tmp_path / "GLD.csv").write_text("")
    bars, report = load_csv_dir(tmp_path, ["SPY"], ["GLD"], benchmark="SPY")
    assert bars["ticker"].unique().tolist() == ["SPY"]
    assert [(f.ticker, f.action) for f in report.refused] == [("GLD", "refused")]


def test_load_dir_empty_required_file_raises(tmp_path):
    write(tmp_path, "SPY.csv", [HEADER, *GOOD])
    (tmp_path / "XLK.csv").write_text("")
    with pytest.raises(DataValidationError, match="XLK.csv"):
        load_csv_dir(tmp_path, ["SPY", "XLK"], [], benchmark="SPY")


def test_load_dir_required_series_without_usable_rows_raises(tmp_path):
    write(tmp_path, "SPY.csv", [HEADER, *GOOD])
    write(tmp_path, "XLK.csv", [HEADER, "2021-03-01,-1,1,1,1,1", "2021-03-02,,1,1,1,1"])
    with pytest.raises(DataValidationError, match="XLK") as err:
        load_csv_dir(tmp_path, ["SPY", "XLK"], [], benchmark="SPY")
    kinds_xlk = {(f.kind, f.row) for f in err.value.report.findings if f.ticker == "XLK"}
    assert {("nonpositive_price", 2), ("missing_price", 3), ("no_usable_rows", None)} <= kinds_xlk


# --- the real shared folder --------------------------------------------------------------

SECTORS = ["XLB", "XLC", "XLE", "XLF", "XLI", "XLK", "XLP", "XLRE", "XLU", "XLV", "XLY"]


@pytest.mark.shared
def test_real_shared_folder(shared_data_dir):
    files = sorted(p.stem for p in shared_data_dir.glob("*.csv"))
    assert len(files) == 26
    optional = [t for t in files if t not in SECTORS and t != "SPY"]
    bars, report = load_csv_dir(shared_data_dir, [*SECTORS, "SPY"], optional, benchmark="SPY")

    assert sorted(bars["ticker"].unique()) == files
    stray = [f for f in report.findings if f.kind == "stray_header"]
    assert [(f.ticker, f.row, f.action) for f in stray] == [("XLE", 2, "dropped")]
    assert not [f for f in report.refused if f.ticker in [*SECTORS, "SPY"]]

    assert (bars[["open", "high", "low", "close"]] > 0).all().all()
    assert (bars["high"] >= bars["low"]).all()
    assert ((bars["close"] <= bars["high"]) & (bars["close"] >= bars["low"])).all()
    for ticker, g in bars.groupby("ticker"):
        assert g["date"].is_unique and g["date"].is_monotonic_increasing, ticker

    # Rows kept = data lines in the files minus the rows reported as dropped.
    lines = sum(len((shared_data_dir / f"{t}.csv").read_text().splitlines()) - 1 for t in files)
    dropped = sum(_rows_in(f) for f in report.findings if f.action == "dropped")
    assert len(bars) == lines - dropped
    # XLE keeps all its real rows: only the stray header is gone.
    xle_lines = len((shared_data_dir / "XLE.csv").read_text().splitlines())
    assert (bars["ticker"] == "XLE").sum() == xle_lines - 2
    assert np.isfinite(bars["close"]).all()


def _rows_in(finding) -> int:
    """Rows a finding stands for: 1, or the count a summary finding starts with."""
    head = finding.detail.split(" rows:", 1)[0]
    return int(head) if head.isdigit() else 1


@pytest.mark.shared
def test_real_folder_validates_quickly(shared_data_dir):
    """26 files / ~140k rows: validation alone must stay far below a second (budget 2 s
    here to absorb slow CI machines); calendar loading is excluded by warming it first."""
    raw, where = {}, {}
    for path in sorted(shared_data_dir.glob("*.csv")):
        raw[path.stem], _ = read_csv_file(path, path.stem)
        where[path.stem] = str(path)
    sessions("XNYS", "1990-01-01", "2022-12-30")
    start = time.perf_counter()
    bars, _ = validate(raw, where, benchmark="SPY")
    elapsed = time.perf_counter() - start
    assert len(bars) > 100_000
    assert elapsed < 2.0, f"validate took {elapsed:.2f} s"
