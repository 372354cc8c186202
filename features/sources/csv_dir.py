"""The ``csv:DIR`` source: one yfinance-style CSV per ticker, read defensively.

People dump prices with ``df.to_csv()`` and append to the files over the years, so the files
carry stray header rows, odd column orders, timestamps with time zones and the odd garbage
line. The reader keeps every line's number so each problem can be reported as ``file:line``;
the content checks (duplicates, splits, gaps, ...) are ``features.validation.validate``'s job.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from features.bars import VALUE_COLUMNS
from features.findings import DataValidationError, ValidationReport
from features.validation import DEFAULT_CONFIG, ValidationConfig, emit_rows, validate

# Normalised header name (lower case, no spaces/underscores/dashes) -> our column.
HEADER_ALIASES = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "adjclose": "adj_close",
}
# yfinance >= 0.2.51 writes a MultiIndex header whose first cell is "Price" and whose date
# column is unnamed; the "Ticker,..." and "Date,,,," lines that follow are stray headers.
MULTIINDEX_FIRST_CELL = "price"
RAW_COLUMNS = ("date", *VALUE_COLUMNS, "row")
ISO_DATE_LEN = 10  # "YYYY-MM-DD"; anything after it (time, offset) is dropped
SHOWN_CHARS = 80  # how much of a bad line to quote in a finding
ADJ_CLOSE_TOLERANCE = 1e-6  # relative; Adj Close this close to Close means already adjusted


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).strip().lower() if ch not in " _-")


def _refuse(path: Path, ticker: str, why: str) -> DataValidationError:
    report = ValidationReport()
    report.add(ticker, "unreadable_file", "refused", why, where=str(path))
    return DataValidationError(f"{path}: {why}", report)


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), [])


def _read_body(path: Path, width: int, date_col: int) -> pd.DataFrame:
    """Data lines as columns 0..width-1 plus ``_extra``; index = 1-based line number.

    The C parser reads the date column as text and lets a price column fall back to text
    only when it holds a bad cell (converted with errors="coerce" later), which is ~5x
    faster than reading every cell as text. A line with more fields than the header makes
    it give up; such files are re-read with the csv module and the overlong lines' extra
    cells kept in ``_extra`` for the caller to report.
    """
    try:
        body = pd.read_csv(
            path,
            header=0,
            names=range(width),
            index_col=False,
            dtype={date_col: str},
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
        body["_extra"] = ""
    except pd.errors.ParserError:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))[1:]
        cells = [[c if c.strip() else None for c in (line + [""] * width)[:width]] for line in lines]
        body = pd.DataFrame(cells, columns=range(width), dtype=object)
        body["_extra"] = [",".join(c for c in line[width:] if c.strip()) for line in lines]
    body.index = pd.RangeIndex(2, len(body) + 2)  # header is line 1
    return body


def _parse_dates(text: pd.Series) -> pd.Series:
    """Dates from ``YYYY-MM-DD[ time][tz]`` (the local calendar day is kept), else any format."""
    text = text.astype("str").str.strip()
    dates = pd.to_datetime(text.str.slice(0, ISO_DATE_LEN), format="%Y-%m-%d", errors="coerce")
    rest = (dates.isna() & text.notna() & (text != "")).to_numpy(dtype=bool, na_value=False)
    if rest.any():
        try:
            other = pd.to_datetime(text[rest], format="mixed", errors="coerce")
        except (ValueError, TypeError):  # mixed offsets: compare in UTC instead
            other = pd.to_datetime(text[rest], format="mixed", errors="coerce", utc=True)
        if getattr(other.dt, "tz", None) is not None:
            other = other.dt.tz_localize(None)
        dates = dates.astype("datetime64[ns]")
        dates[rest] = other.dt.normalize().astype("datetime64[ns]")
    return dates.astype("datetime64[ns]")


def _numbers(col: pd.Series) -> np.ndarray:
    """Floats; any cell that is not a number becomes NaN (reported later by validate)."""
    if col.dtype.kind in "fiu":
        return col.to_numpy(dtype="float64")
    text = col.astype(str).str.strip()
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def read_csv_file(path: Path, ticker: str) -> tuple[pd.DataFrame, ValidationReport]:
    """Read one yfinance-style CSV into raw bars (date, open..volume, row) plus findings.

    Dates are read as text and every price cell is converted with errors="coerce", so one
    bad cell never changes a whole column's meaning. Stray header rows and unparsable
    lines are dropped and reported with their line number; missing or non-numeric prices
    become NaN for ``validate`` to judge. An empty file, or one without a Date or Close
    column, is refused (DataValidationError).
    """
    path = Path(path)
    report = ValidationReport()
    where = str(path)
    try:
        names = _header(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise _refuse(path, ticker, f"cannot read the file ({exc})") from None
    if not any(n.strip() for n in names):
        raise _refuse(path, ticker, "the file is empty (no header line)")
    header = [_norm(c) for c in names]
    col_of: dict[str, int] = {}
    for i, name in enumerate(header):
        col_of.setdefault(HEADER_ALIASES.get(name, name), i)
    if "date" not in col_of and header[0] in (MULTIINDEX_FIRST_CELL, ""):
        col_of["date"] = 0
    shown_header = ",".join(names)
    if "date" not in col_of:
        raise _refuse(path, ticker, f"no Date column (header line 1: {shown_header!r})")
    if "close" not in col_of:
        hint = "; it has Adj Close only, which cannot be used without Close" if "adj_close" in col_of else ""
        raise _refuse(path, ticker, f"no Close column (header line 1: {shown_header!r}){hint}")

    try:
        body = _read_body(path, len(names), col_of["date"])
    except (OSError, UnicodeDecodeError) as exc:
        raise _refuse(path, ticker, f"cannot read the file ({exc})") from None
    blank = body.iloc[:, :-1].isna().all(axis=1).to_numpy() & (body["_extra"] == "").to_numpy()
    body = body[~blank]  # empty lines carry nothing to lose
    raw = pd.DataFrame({"date": _parse_dates(body[col_of["date"]])}, index=body.index)
    for col in VALUE_COLUMNS:
        raw[col] = _numbers(body[col_of[col]]) if col in col_of else np.nan
    raw["row"] = body.index.to_numpy(dtype="int64")

    no_date = raw["date"].isna().to_numpy()
    no_number = raw[list(VALUE_COLUMNS)].isna().all(axis=1).to_numpy()
    overlong = (body["_extra"] != "").to_numpy()

    def quote(mask: np.ndarray) -> list[str]:  # only flagged lines are re-joined (cheap)
        rows = body.iloc[mask, :-1].itertuples(index=False)
        lines = (",".join("" if pd.isna(c) else str(c) for c in cells) for cells in rows)
        return [f"line {t[:SHOWN_CHARS]!r}" for t in lines]

    stray = no_date & no_number & ~overlong
    emit_rows(
        report,
        ticker,
        where,
        "stray_header",
        "dropped",
        raw.loc[stray, "row"],
        raw.loc[stray, "date"],
        quote(stray),
        "a header/label row inside the data",
    )
    bad_date = no_date & ~stray & ~overlong
    emit_rows(
        report,
        ticker,
        where,
        "unparsable_row",
        "dropped",
        raw.loc[bad_date, "row"],
        raw.loc[bad_date, "date"],
        [f"date cell not a date: {q}" for q in quote(bad_date)],
        "date cell not a date",
    )
    emit_rows(
        report,
        ticker,
        where,
        "unparsable_row",
        "dropped",
        raw.loc[overlong, "row"],
        raw.loc[overlong, "date"],
        [f"more cells than the header: {q}" for q in quote(overlong)],
        "more cells than the header",
    )
    keep = ~(no_date | overlong)

    missing = [c for c in ("open", "high", "low", "volume") if c not in col_of]
    if missing:
        report.add(
            ticker,
            "missing_column",
            "noted",
            f"no {', '.join(missing)} column; left empty for validation to judge",
            where=where,
            row=1,
        )
    if "adj_close" in col_of:
        adj = _numbers(body[col_of["adj_close"]])[keep]
        close = raw["close"].to_numpy()[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(adj / close - 1.0)
        gap = float(rel[np.isfinite(rel)].max(initial=0.0))
        same = gap <= ADJ_CLOSE_TOLERANCE
        report.add(
            ticker,
            "adj_close_ignored",
            "noted",
            "Adj Close equals Close (prices already adjusted); column ignored"
            if same
            else f"Adj Close differs from Close by up to {gap:.2%}: Close is used, so dividends are "
            "not adjusted (splits are checked by validation)",
            where=where,
            row=1,
        )
    return raw.loc[keep, list(RAW_COLUMNS)].reset_index(drop=True), report


def load_csv_dir(
    directory,
    required: list[str],
    optional: list[str],
    calendar: str = "XNYS",
    benchmark: str | None = None,
    config: ValidationConfig = DEFAULT_CONFIG,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read ``<TICKER>.csv`` for each ticker in ``directory`` and validate them together.

    A missing or refused file for a required ticker (or a required series with no usable
    rows) raises DataValidationError; an optional one is reported and left out.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise DataValidationError(
            f"CSV folder {folder} does not exist (expected one <TICKER>.csv per ticker)", ValidationReport()
        )
    report = ValidationReport()
    raw: dict[str, pd.DataFrame] = {}
    where: dict[str, str] = {}
    required = list(dict.fromkeys(required))
    optional = [t for t in dict.fromkeys(optional) if t not in required]
    missing_required = []
    for ticker in [*required, *optional]:
        path = folder / f"{ticker}.csv"
        if not path.is_file():
            if ticker in required:
                missing_required.append(ticker)
            else:
                report.add(
                    ticker, "missing_file", "noted", f"optional {path.name} not found; left out", where=str(path)
                )
            continue
        try:
            frame, file_report = read_csv_file(path, ticker)
        except DataValidationError as exc:
            report.extend(exc.report)
            if ticker in required:
                raise DataValidationError(str(exc), report) from None
            continue
        report.extend(file_report)
        raw[ticker], where[ticker] = frame, str(path)
    if missing_required:
        names = ", ".join(f"{t}.csv" for t in missing_required)
        for t in missing_required:
            report.add(t, "missing_file", "refused", f"required {t}.csv not found", where=str(folder / f"{t}.csv"))
        raise DataValidationError(f"CSV folder {folder} lacks required ticker file(s): {names}", report)

    bars, checked = validate(raw, where, calendar=calendar, benchmark=benchmark, config=config)
    report.extend(checked)
    refused = sorted({f.ticker for f in checked.refused if f.ticker in required})
    if refused:
        raise DataValidationError(
            f"CSV folder {folder}: no usable rows for required ticker(s) {', '.join(refused)}", report
        )
    return bars, report
