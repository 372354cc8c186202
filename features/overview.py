"""Market context in numbers an agent or a person reads first: the benchmark's move, breadth,
leadership, the volatility regime, and the macro series the data holds.

Pure and causal: everything is read from the dataset up to the session at `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from features.dataset import MarketDataset
from features.errors import RequestError
from features.matrix import LEADERSHIP_RULE, rotation_matrix

OVERVIEW_WINDOWS = ("1D", "1W", "1M", "3M", "12M")
CHANGE_WINDOWS = ("1W", "1M", "3M")
VIX_LOOKBACK = "12M"  # the VIX percentile is over this window (sessions from FeatureConfig.return_windows)
REGIMES = ((1 / 3, "low"), (2 / 3, "normal"), (1.0, "high"))  # VIX percentile terciles


@dataclass(frozen=True)
class MacroSeries:
    """One macro indicator: how it is built from the context series, and how its change is read."""

    name: str
    label: str
    needs: tuple[str, ...]  # context series (universe `context` names)
    unit: str  # of the value
    change: str  # "points" (difference) or "%" (percent change)

    def values(self, context: pd.DataFrame) -> pd.Series:
        c = context
        if self.name == "curve_10y_5y":
            return c["yield_10y"] - c["yield_5y"]
        if self.name == "credit_hy_vs_ig":
            return c["high_yield"] / c["investment_grade"]
        if self.name == "copper_gold":
            return c["copper"] / c["gold"]
        return c[self.needs[0]]


MACRO = (
    MacroSeries("vix", "VIX (implied volatility)", ("vix",), "index points", "points"),
    MacroSeries("yield_10y", "10-year Treasury yield", ("yield_10y",), "% as quoted", "points"),
    MacroSeries("curve_10y_5y", "10y minus 5y yield", ("yield_10y", "yield_5y"), "pp", "points"),
    MacroSeries(
        "credit_hy_vs_ig",
        "Credit: high yield (HYG) vs investment grade (LQD)",
        ("high_yield", "investment_grade"),
        "price ratio",
        "%",
    ),
    MacroSeries("long_treasuries", "Long Treasuries (TLT)", ("long_treasury",), "price", "%"),
    MacroSeries("dollar", "US dollar (UUP)", ("dollar",), "price", "%"),
    MacroSeries("oil", "Crude oil (CL=F)", ("oil",), "price", "%"),
    MacroSeries("gold", "Gold (GC=F)", ("gold",), "price", "%"),
    MacroSeries("copper_gold", "Copper / gold ratio", ("copper", "gold"), "price ratio", "%"),
)


def _num(x, digits: int = 4) -> float | None:
    x = float(x)
    return round(x, digits) if np.isfinite(x) else None


def _cut(ds: MarketDataset, as_of) -> tuple[int, pd.Timestamp]:
    pos = ds.panels.session_at(as_of)
    return pos, ds.panels.dates[pos]


def available_macro(ds: MarketDataset) -> list[MacroSeries]:
    have = set(ds.panels.context.columns)
    return [m for m in MACRO if set(m.needs) <= have]


def macro_indicators(ds: MarketDataset, names=None, as_of=None) -> dict:
    """Latest value and 1W/1M/3M change of each macro series the data holds (or of `names`)."""
    known = {m.name: m for m in MACRO}
    present = {m.name: m for m in available_macro(ds)}
    wanted = list(present) if not names else list(dict.fromkeys(names))
    for n in wanted:
        if n not in known:
            raise RequestError(f"indicators: unknown {str(n)[:40]!r}; valid: {', '.join(known)}")
        if n not in present:
            raise RequestError(
                f"indicators: {n!r} is not in this data (it lacks {', '.join(known[n].needs)}); "
                f"available: {', '.join(present) or 'none'}"
            )
    pos, day = _cut(ds, as_of)
    ctx = ds.panels.context.iloc[: pos + 1]
    windows = ds.config.return_windows
    tickers = ds.universe.context
    out: list[dict] = []
    for n in wanted:
        m = present[n]
        series = m.values(ctx).dropna()
        if series.empty:
            out.append(
                {
                    "name": n,
                    "label": m.label,
                    "value": None,
                    "date": None,
                    "unit": m.unit,
                    "source": [tickers[k] for k in m.needs],
                    "change": {},
                    "change_unit": m.change,
                }
            )
            continue
        last = series.iloc[-1]
        change = {}
        for w in CHANGE_WINDOWS:
            k = windows[w]
            if len(series) > k:
                before = series.iloc[-1 - k]
                change[w] = _num(last - before) if m.change == "points" else _num(100.0 * (last / before - 1.0), 2)
            else:
                change[w] = None
        out.append(
            {
                "name": n,
                "label": m.label,
                "value": _num(last),
                "date": series.index[-1].date().isoformat(),
                "unit": m.unit,
                "source": [tickers[k] for k in m.needs],
                "change": change,
                "change_unit": m.change,
            }
        )
    return {"as_of": day.date().isoformat(), "data_source": ds.source.label, "indicators": out}


def volatility_regime(ds: MarketDataset, pos: int) -> dict | None:
    """VIX level and its percentile over the trailing year (causal), with a low/normal/high label."""
    if "vix" not in ds.panels.context:
        return None
    vix = ds.panels.context["vix"].iloc[: pos + 1].dropna()
    if vix.empty:
        return None
    look = vix.iloc[-ds.config.return_windows[VIX_LOOKBACK] :]
    level = float(look.iloc[-1])
    pct = float((look <= level).mean())
    regime = next(label for bound, label in REGIMES if pct <= bound)
    return {
        "vix": _num(level, 2),
        "percentile_1y": _num(pct, 3),
        "regime": regime,
        "date": look.index[-1].date().isoformat(),
        "rule": "VIX percentile over the last year: low below 1/3, high above 2/3 (a heuristic)",
    }


def market_overview(ds: MarketDataset, as_of=None) -> dict:
    """Benchmark returns, breadth per window, leadership (heuristic), volatility regime, data through."""
    pos, day = _cut(ds, as_of)
    p, cfg = ds.panels, ds.config
    windows = {w: cfg.return_windows[w] for w in OVERVIEW_WINDOWS if w in cfg.return_windows}
    bench = p.benchmark["close"].iloc[: pos + 1]
    returns = {}
    for w, k in windows.items():
        returns[w] = _num(100.0 * (bench.iloc[-1] / bench.iloc[-1 - k] - 1.0), 2) if len(bench) > k else None
    mx = rotation_matrix(p, ds.universe, day, replace(cfg, matrix_windows=windows))
    breadth = {}
    for w in windows:
        s = mx.spreads_pp[w].dropna()
        breadth[w] = {"beat_benchmark": int((s > 0).sum()), "sectors": int(len(s))}
    return {
        "universe": ds.universe.name,
        "benchmark": ds.universe.benchmark,
        "as_of": day.date().isoformat(),
        "data_through": None if ds.data_through is None else ds.data_through.date().isoformat(),
        "data_source": ds.source.label,
        "benchmark_return_pct": returns,
        "breadth": breadth,
        "leadership": {w: mx.leadership[w] for w in windows},
        "leadership_rule": LEADERSHIP_RULE,
        "volatility_regime": volatility_regime(ds, pos),
    }
