"""One ticker in context: its returns against the benchmark, volatility, trend, its sector and where
it stands inside that sector. Any ticker in the loaded data: a sector ETF, a constituent, a context
series or the benchmark."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.dataset import MarketDataset
from features.errors import RequestError
from features.momentum import relative_total_return

STOCK_WINDOWS = ("1W", "1M", "3M", "12M")
VOL_WINDOWS = (21, 63)
TREND_WINDOWS = (50, 200)
STANDING_WINDOW = "3M"


def pct(x) -> float | None:
    """A fraction in percent, 2 decimals (None when not finite): how the JSON answers show returns."""
    x = float(x)
    return round(100.0 * x, 2) if np.isfinite(x) else None


def analysable(ds: MarketDataset) -> list[str]:
    return sorted(set(ds.bars["ticker"].unique()))


def _role(ds: MarketDataset, ticker: str) -> tuple[str, str | None]:
    """(kind, sector key) of a ticker in the universe."""
    uni = ds.universe
    if ticker == uni.benchmark:
        return "benchmark", None
    for s in uni.sectors:
        if s.ticker == ticker:
            return "sector", s.key
        if ticker in s.members:
            return "member", s.key
    return ("context", None) if ticker in uni.context.values() else ("other", None)


def _closes(ds: MarketDataset, tickers, day: pd.Timestamp) -> pd.DataFrame:
    """Closes of `tickers` on the benchmark's sessions up to `day`."""
    b = ds.bars[ds.bars["ticker"].isin(list(tickers)) & (ds.bars["date"] <= day)]
    wide = b.pivot(index="date", columns="ticker", values="close")
    return wide.reindex(ds.panels.dates[ds.panels.dates <= day])


def stock_analysis(ds: MarketDataset, ticker: str, as_of=None) -> dict:
    """The ticker's figures on the session at `as_of`; an unknown ticker is a RequestError naming the valid ones."""
    known = analysable(ds)
    if not isinstance(ticker, str) or ticker.strip().upper() not in {t.upper() for t in known}:
        shown = ", ".join(known[:40]) + (f" … ({len(known)} in all)" if len(known) > 40 else "")
        raise RequestError(f"ticker: unknown {str(ticker)[:40]!r}; this data can analyse {shown}")
    ticker = next(t for t in known if t.upper() == ticker.strip().upper())
    pos = ds.panels.session_at(as_of)
    day = ds.panels.dates[pos]
    kind, sector = _role(ds, ticker)
    peers = [s for s in ds.universe.sectors if s.key == sector]
    members = list(peers[0].members) if peers and kind == "member" else []
    close = _closes(ds, [ticker, *members], day)
    mine = close[ticker]
    bench = ds.panels.benchmark["close"].iloc[: pos + 1]
    windows = {w: ds.config.return_windows[w] for w in STOCK_WINDOWS}
    rel = {w: pct(relative_total_return(mine.to_frame(), bench, k).iloc[-1, 0]) for w, k in windows.items()}
    absolute = {w: pct(mine.iloc[-1] / mine.iloc[-1 - k] - 1.0) if len(mine) > k else None for w, k in windows.items()}
    r = np.log(mine).diff()
    annual = np.sqrt(ds.config.sessions_per_year)
    vol = {
        f"{w}d": pct(r.iloc[-w:].std() * annual) if r.iloc[-w:].notna().sum() > w // 2 else None for w in VOL_WINDOWS
    }
    trend = {
        f"sma{w}": pct(mine.iloc[-1] / mine.iloc[-w:].mean() - 1.0) if mine.iloc[-w:].notna().all() else None
        for w in TREND_WINDOWS
    }
    out = {
        "ticker": ticker,
        "kind": kind,
        "as_of": day.date().isoformat(),
        "last_close": None if not np.isfinite(mine.iloc[-1]) else round(float(mine.iloc[-1]), 4),
        "last_close_date": None if mine.dropna().empty else mine.dropna().index[-1].date().isoformat(),
        "benchmark": ds.universe.benchmark,
        "return_pct": absolute,
        "return_vs_benchmark_pp": rel,
        "volatility_pct_annualised": vol,
        "trend_vs_average_pct": trend,
        "sector": None if sector is None else {"ticker": sector, "name": ds.panels.names.get(sector, sector)},
        "standing": _standing(ds, kind, sector, ticker, close, bench, pos, windows[STANDING_WINDOW]),
        "data_source": ds.source.label,
    }
    return out


def _standing(ds, kind, sector, ticker, close, bench, pos, k) -> dict | None:
    """Rank by relative return over the standing window among its peers (members of its sector, or sectors)."""
    if kind == "member":
        peers = relative_total_return(close, bench, k).iloc[-1].dropna()
        sector_close = ds.panels.close[sector].iloc[: pos + 1]
        vs_sector = (
            close[ticker].iloc[-1] / close[ticker].iloc[-1 - k] - sector_close.iloc[-1] / sector_close.iloc[-1 - k]
        )
        among = "members of its sector"
    elif kind == "sector":
        peers = relative_total_return(ds.panels.close.iloc[: pos + 1], bench, k).iloc[-1].dropna()
        vs_sector, among = np.nan, "sectors"
    else:
        return None
    if ticker not in peers.index:
        return None
    rank = int(peers.rank(ascending=False, method="min")[ticker])
    return {
        "window": STANDING_WINDOW,
        "rank": rank,
        "of": int(len(peers)),
        "among": among,
        "vs_sector_pp": pct(vs_sector),
    }
