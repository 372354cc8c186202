"""The one tidy bar shape every source yields, so nothing downstream cares where bars came from."""

from __future__ import annotations

import pandas as pd

BAR_COLUMNS = ("date", "ticker", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = (*PRICE_COLUMNS, "volume")  # every numeric bar field


def empty_bars() -> pd.DataFrame:
    return tidy_bars(pd.DataFrame({c: [] for c in BAR_COLUMNS}))


def tidy_bars(df: pd.DataFrame) -> pd.DataFrame:
    """Coerce to the canonical dtypes and order: naive daily dates, str tickers, float prices.

    Sorted by (ticker, date) with a fresh RangeIndex; raises if a column is missing.
    """
    missing = [c for c in BAR_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"bars are missing columns {missing}; have {list(df.columns)}")
    dates = pd.to_datetime(df["date"])
    if dates.dt.tz is not None:
        dates = dates.dt.tz_localize(None)
    out = pd.DataFrame({"date": dates.dt.normalize().astype("datetime64[ns]"), "ticker": df["ticker"].astype(str)})
    for c in VALUE_COLUMNS:
        out[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    return out.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


def wide(bars: pd.DataFrame, field: str) -> pd.DataFrame:
    """One field as a (date × ticker) panel; dates not traded by a ticker are NaN."""
    return bars.pivot(index="date", columns="ticker", values=field).sort_index()
