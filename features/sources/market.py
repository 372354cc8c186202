"""One entry point from a ``--source`` spec to validated bars: ``load_market``.

Why a dispatcher: every command (train, serve, data, matrix) must treat sources alike and
record what was really used. ``auto`` degrades yfinance -> cache -> demo, and each fallback is
announced in ``MarketData.notes`` and in the recorded source string, never silently.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import pandas as pd

from features.report import ValidationReport
from features.sources import MarketData, SourceError, parse_spec
from features.sources import yahoo
from features.sources.demo import DemoKnobs, demo_market
from features.universe import Universe

CACHE_SOURCE = "yfinance-cache"


def load_market(
    spec: str, universe: Universe, *, cache_dir=None, deadline_s: float = 60, end=None
) -> MarketData:
    """Bars for `universe` from the source `spec` (auto, yfinance, csv:DIR, demo[:k=v,...]).

    ``end`` (a date) cuts the data at that day: the point-in-time view, and the demo's last day.
    """
    kind, arg = parse_spec(spec)
    if kind == "csv":
        return _from_csv(arg, universe, end)
    if kind == "demo":
        return _from_demo(arg, universe, end)
    if kind == "yfinance":
        return _from_yfinance(universe, cache_dir, deadline_s, end)
    return _auto(universe, cache_dir, deadline_s, end)


def required_tickers(universe: Universe) -> list[str]:
    return list(dict.fromkeys([*universe.sector_tickers(), universe.benchmark]))


def optional_tickers(universe: Universe) -> list[str]:
    required = set(required_tickers(universe))
    return [t for t in dict.fromkeys(universe.context.values()) if t not in required]


# -- csv -------------------------------------------------------------------------------------
def _from_csv(arg: str, universe: Universe, end) -> MarketData:
    from features.sources.csv_dir import load_csv_dir

    directory = Path(arg).expanduser().resolve()
    if not directory.is_dir():
        raise SourceError(f"csv source: {directory} is not a folder (expected one <TICKER>.csv per ticker)")
    bars, report = load_csv_dir(
        directory, required_tickers(universe), optional_tickers(universe),
        calendar=universe.calendar, benchmark=universe.benchmark,
    )
    return MarketData(_until(bars, end), f"csv:{directory}", report)


# -- demo ------------------------------------------------------------------------------------
def parse_demo_knobs(arg: str) -> DemoKnobs:
    """``sectors=10,stocks=200,signal=0.1`` -> DemoKnobs, with errors naming the bad knob."""
    types = {f.name: f.type for f in fields(DemoKnobs)}
    values: dict[str, object] = {}
    for item in filter(None, (p.strip() for p in arg.split(","))):
        key, eq, text = (s.strip() for s in item.partition("="))
        if key not in types:
            raise SourceError(f"demo: unknown knob {key!r} in {item!r}; knobs are {', '.join(types)}")
        if not eq or not text:
            raise SourceError(f"demo: knob {key!r} needs a value, like {key}={getattr(DemoKnobs, key)}")
        if key in values:
            raise SourceError(f"demo: knob {key!r} given twice")
        cast = int if types[key] in ("int", int) else float
        try:
            values[key] = cast(text)
        except ValueError:
            kind = "an integer" if cast is int else "a number"
            raise SourceError(f"demo: knob {key}={text!r} is not {kind}") from None
    return DemoKnobs(**values)


def demo_source_name(knobs: DemoKnobs, end) -> str:
    day = pd.Timestamp(end).strftime("%Y-%m-%d")
    return (f"demo(seed={knobs.seed},signal={knobs.signal:g},sectors={knobs.sectors},stocks={knobs.stocks},"
            f"years={knobs.years:g},end={day})")


def _from_demo(arg: str, universe: Universe, end) -> MarketData:
    knobs = parse_demo_knobs(arg)
    try:
        bars, demo_universe = demo_market(end=end, calendar=universe.calendar, **asdict(knobs))
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    notes = []
    own = None if demo_universe == universe else demo_universe  # a generated universe travels along
    if own is not None and own.name == "us_sectors":
        notes.append(f"the demo market mirrors universe us_sectors, not {universe.name}; using us_sectors")
    return MarketData(bars, demo_source_name(knobs, bars["date"].max()), ValidationReport(), universe=own, notes=notes)


# -- yfinance --------------------------------------------------------------------------------
def _from_yfinance(universe: Universe, cache_dir, deadline_s: float, end) -> MarketData:
    fetch = yahoo.load_yfinance(universe.tickers(), cache_dir, deadline_s=deadline_s, calendar=universe.calendar)
    missing = [t for t in required_tickers(universe) if t not in fetch.raw]
    if missing:
        why = "; ".join(f"{t}: {fetch.failed.get(t, 'no data')}" for t in missing)
        raise SourceError(
            f"yfinance: no data, fresh or cached, for required ticker(s) {', '.join(missing)} ({why}). "
            "Check the network and the ticker names, or use --source csv:DIR or demo."
        )
    fresh = [t for t in required_tickers(universe) if t not in fetch.failed]
    return _validated(fetch, universe, "yfinance" if fresh else CACHE_SOURCE, end)


def _validated(fetch: yahoo.YahooFetch, universe: Universe, source: str, end) -> MarketData:
    from features.validation import validate

    bars, checked = validate(fetch.raw, fetch.where, calendar=universe.calendar, benchmark=universe.benchmark,
                             as_of=end)
    report = ValidationReport()
    report.extend(fetch.report)
    report.extend(checked)
    return MarketData(bars, source, report, notes=list(fetch.notes))


# -- auto ------------------------------------------------------------------------------------
def _auto(universe: Universe, cache_dir, deadline_s: float, end) -> MarketData:
    """yfinance when reachable, else the cache, else the demo market; every step is noted.

    Only unavailable data falls back; data that fails validation (DataValidationError) is
    raised as it is, since replacing a broken real market with the demo would hide the problem.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else yahoo.default_cache_dir()
    required = required_tickers(universe)
    why = "network unavailable"
    if yahoo.probe(min(yahoo.PROBE_DEADLINE_S, deadline_s)):
        try:
            return _from_yfinance(universe, cache_dir, deadline_s, end)
        except SourceError as exc:
            why = f"yfinance failed ({exc})"
    cached = yahoo.read_cache(universe.tickers(), cache_dir)
    lacking = [t for t in required if t not in cached.raw]
    if not lacking:
        market = _validated(cached, universe, CACHE_SOURCE, end)
        through = market.data_through
        day = through.date() if through is not None else "n/a"
        market.notes.insert(0, f"{why}: using cache from {day} ({cache_dir})")
        if cached.failed:
            market.notes.append(f"the cache lacks optional series {', '.join(cached.failed)}; left out")
        return market
    market = _from_demo("", universe, end)
    if len(lacking) == len(required):
        market.notes.insert(0, f"{why} and no cache: using the DEMO market")
    else:
        market.notes.insert(0, f"{why} and the cache ({cache_dir}) lacks {', '.join(lacking)}: using the DEMO market")
    return market


def _until(bars: pd.DataFrame, end) -> pd.DataFrame:
    if end is None:
        return bars
    return bars[bars["date"] <= pd.Timestamp(end)].reset_index(drop=True)
