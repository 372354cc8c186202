"""One entry point from a source to validated bars: ``load_market``.

Why a dispatcher: every command (train, serve, data, matrix) must treat sources alike and
record what was really used. ``auto`` degrades yfinance -> cache -> demo, and each fallback is
announced in ``MarketData.notes`` and in the recorded source, never silently.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from features.errors import SourceError
from features.findings import ValidationReport
from features.sources import MarketData, yahoo
from features.sources.data_source import DataSource
from features.sources.demo import demo_market
from features.universe import Universe
from features.validation import DEFAULT_CONFIG, ValidationConfig


def load_market(
    source: str | DataSource,
    universe: Universe,
    *,
    cache_dir=None,
    deadline_s: float = 60,
    end=None,
    validation: ValidationConfig = DEFAULT_CONFIG,
    batch: int = yahoo.BATCH,
    parallel: int = yahoo.PARALLEL,
) -> MarketData:
    """Bars for `universe` from `source` (a DataSource, or a spec: auto, yfinance, csv:DIR, demo[:k=v,...]).

    ``end`` (a date) cuts the data at that day: the point-in-time view, and the demo's last day.
    """
    src = DataSource.parse(source)
    if src.kind == "cache":
        raise SourceError("the yfinance cache is a fallback of auto, not a source to ask for; use auto or yfinance")
    if src.kind == "csv":
        market = _from_csv(src, universe, end, validation)
    elif src.kind == "demo":
        market = _from_demo(src, universe, end)
    elif src.kind == "yfinance":
        market = _from_yfinance(universe, cache_dir, (deadline_s, batch, parallel), end, validation)
    else:
        market = _auto(universe, cache_dir, (deadline_s, batch, parallel), end, validation)
    note = (market.universe or universe).survivorship_note
    if note:  # every result over history is shown with it (CLI, responses, MLflow notes)
        market.notes.append(note)
    return market


def required_tickers(universe: Universe) -> list[str]:
    """The benchmark and every sector ETF. Constituents are not required one by one: a member
    without data is left out of its sector and named (features.sectors.SectorMembership)."""
    etfs = [s.ticker for s in universe.sectors if s.ticker]
    return list(dict.fromkeys([*etfs, universe.benchmark]))


def optional_tickers(universe: Universe) -> list[str]:
    required = set(required_tickers(universe))
    members = [m for s in universe.sectors for m in s.members]
    return [t for t in dict.fromkeys([*members, *universe.context.values()]) if t not in required]


# -- csv -------------------------------------------------------------------------------------
def _from_csv(src: DataSource, universe: Universe, end, validation: ValidationConfig) -> MarketData:
    from features.sources.csv_dir import load_csv_dir

    directory = src.location
    assert directory is not None
    if not directory.is_dir():
        raise SourceError(f"csv source: {directory} is not a folder (expected one <TICKER>.csv per ticker)")
    bars, report = load_csv_dir(
        directory,
        required_tickers(universe),
        optional_tickers(universe),
        calendar=universe.calendar,
        benchmark=universe.benchmark,
        config=validation,
    )
    return MarketData(_until(bars, end), src, report)


# -- demo ------------------------------------------------------------------------------------
def _from_demo(src: DataSource, universe: Universe, end) -> MarketData:
    assert src.knobs is not None
    try:
        bars, demo_universe = demo_market(end=end, calendar=universe.calendar, **asdict(src.knobs))
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    notes = []
    own = None if demo_universe == universe else demo_universe  # a generated universe travels along
    if own is not None and own.name == "us_sectors":
        notes.append(f"the demo market mirrors universe us_sectors, not {universe.name}; using us_sectors")
    return MarketData(bars, src.ended(bars["date"].max()), ValidationReport(), universe=own, notes=notes)


# -- yfinance --------------------------------------------------------------------------------
def _from_yfinance(universe: Universe, cache_dir, budget: tuple, end, validation: ValidationConfig) -> MarketData:
    """`budget`: (deadline_s, batch, parallel) of the download."""
    deadline_s, batch, parallel = budget
    # required first: if the deadline cuts a big universe short, it cuts members, not the benchmark
    tickers = list(dict.fromkeys([*required_tickers(universe), *universe.tickers()]))
    fetch = yahoo.load_yfinance(
        tickers, cache_dir, deadline_s=deadline_s, calendar=universe.calendar, batch=batch, parallel=parallel
    )
    missing = [t for t in required_tickers(universe) if t not in fetch.raw]
    if missing:
        why = "; ".join(f"{t}: {fetch.failed.get(t, 'no data')}" for t in missing)
        raise SourceError(
            f"yfinance: no data, fresh or cached, for required ticker(s) {', '.join(missing)} ({why}). "
            "Check the network and the ticker names, or use --source csv:DIR or demo."
        )
    fresh = [t for t in required_tickers(universe) if t not in fetch.failed]
    used = DataSource("yfinance") if fresh else DataSource("cache", location=fetch_dir(cache_dir))
    return validated(fetch, universe, used, end, validation)


def fetch_dir(cache_dir) -> Path:
    return Path(cache_dir) if cache_dir is not None else yahoo.default_cache_dir()


def validated(
    fetch: yahoo.YahooFetch, universe: Universe, source: DataSource, end, validation: ValidationConfig
) -> MarketData:
    """The fetched bars validated for `universe`, with what was repaired or refused (also used by serving/live.py)."""
    from features.validation import validate

    bars, checked = validate(
        fetch.raw, fetch.where, calendar=universe.calendar, benchmark=universe.benchmark, as_of=end, config=validation
    )
    report = ValidationReport()
    report.extend(fetch.report)
    report.extend(checked)
    return MarketData(bars, source, report, notes=list(fetch.notes))


# -- auto ------------------------------------------------------------------------------------
def _auto(universe: Universe, cache_dir, budget: tuple, end, validation: ValidationConfig) -> MarketData:
    """yfinance when reachable, else the cache, else the demo market; every step is noted.

    Only unavailable data falls back; data that fails validation (DataValidationError) is
    raised as it is, since replacing a broken real market with the demo would hide the problem.
    """
    cache_dir = fetch_dir(cache_dir)
    required = required_tickers(universe)
    why = "network unavailable"
    if yahoo.probe(min(yahoo.PROBE_DEADLINE_S, budget[0])):
        try:
            return _from_yfinance(universe, cache_dir, budget, end, validation)
        except SourceError as exc:
            why = f"yfinance failed ({exc})"
    cached = yahoo.read_cache(universe.tickers(), cache_dir)
    lacking = [t for t in required if t not in cached.raw]
    if not lacking:
        market = validated(cached, universe, DataSource("cache", location=cache_dir), end, validation)
        through = market.data_through
        day = through.date() if through is not None else "n/a"
        market.notes.insert(0, f"{why}: using the cache ({cache_dir.name}) from {day}")
        if cached.failed:
            market.notes.append(f"the cache lacks optional series {', '.join(cached.failed)}; left out")
        return market
    market = _from_demo(DataSource.parse("demo"), universe, end)
    if len(lacking) == len(required):
        market.notes.insert(0, f"{why} and no cache: using the DEMO market")
    else:
        lacks = ", ".join(lacking)
        market.notes.insert(0, f"{why} and the cache ({cache_dir.name}) lacks {lacks}: using the DEMO market")
    return market


def _until(bars: pd.DataFrame, end) -> pd.DataFrame:
    if end is None:
        return bars
    return bars[bars["date"] <= pd.Timestamp(end)].reset_index(drop=True)
