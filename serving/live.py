"""The service's live data path: a new immutable ServingState from yfinance, built off the request path.

Why its own path (not MarketDataset.load): a refresh must be told the time and how to download, so the
schedule can be tested with a controllable clock and a fake yfinance, and a served instance can run on
both. `LiveMarket` is that boundary: the real clock and yfinance in production; a test seam swaps both.

One refresh = one batched daily download for every ticker of every universe on an exchange (tickers
already holding the last completed session are not asked for, so in session this is usually none) plus,
while the exchange is in session, one batched intraday download for today's partial bars. The daily
bars keep completed sessions only (yahoo.load_yfinance drops today's row until the close); the partial
bars go to serving/intraday.py, descriptive only. A universe whose daily data did not change keeps its
previous dataset (features built once) and champion; a refresh never reloads the model (/reload does).

The test seam (TEST_SEAM_ENV = SECTOR_HEATMAP_TEST_SEAM=FILE.py:FACTORY): FACTORY() returns a LiveMarket
with a fake clock and fake downloaders. Declared in one place, read once with the other settings, logged
as a warning at start and shown by GET /status; nothing sets it but the end-to-end tests and the bench.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from features.calendar import last_complete_session
from features.dataset import MarketDataset
from features.errors import ConfigError, SectorHeatmapError, SourceError
from features.findings import ValidationReport
from features.news.fetch import NewsFetcher
from features.sources import yahoo
from features.sources.data_source import DataSource
from features.sources.intraday import IntradayBars, IntradayDownloader, load_intraday
from features.sources.market import fetch_dir, required_tickers, validated
from features.universe import Universe, load_universe
from serving.intraday import IntradayView
from serving.refresh import market_phase
from serving.state import (
    TEST_SEAM_ENV,
    ServerSettings,
    ServingState,
    UniverseFailure,
    UniverseState,
    check_serving_columns,
    load_universe_state,
    model_fits,
)

log = logging.getLogger("sector_heatmap.serving")
REFRESHED_SOURCES = ("yfinance", "auto")  # csv and demo data never change while served


def utc_now() -> pd.Timestamp:
    return pd.Timestamp.now("UTC")


@dataclass(frozen=True)
class LiveMarket:
    """Time and Yahoo as the service sees them."""

    now: Callable[[], pd.Timestamp] = utc_now
    daily: yahoo.Downloader | None = None  # None: the real yf.download
    intraday: IntradayDownloader | None = None  # None: the real yf.download (intraday interval)
    news: NewsFetcher | None = None  # None: the real yfinance Ticker.news (features/news/fetch.py)
    tick_s: float = 30.0  # the scheduler looks at the clock at least this often
    name: str = "yfinance"


class RefreshFailed(SectorHeatmapError):
    """A refresh that could not bring fresh data: the previous state keeps serving, marked stale."""


def live_market(settings: ServerSettings) -> LiveMarket:
    """The real market, or the test seam's fake one (loudly)."""
    if not settings.test_seam:
        return LiveMarket()
    path, _, factory = settings.test_seam.rpartition(":")
    if not path.endswith(".py") or not factory.isidentifier() or not Path(path).is_file():
        raise ConfigError(f"{TEST_SEAM_ENV}: expected an existing FILE.py:FACTORY, got {settings.test_seam!r}")
    spec = importlib.util.spec_from_file_location("sector_heatmap_test_seam", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    market = getattr(module, factory)()
    if not isinstance(market, LiveMarket):
        raise ConfigError(f"{TEST_SEAM_ENV}: {factory}() must return a serving.live.LiveMarket")
    log.warning("TEST SEAM %s: a fake clock and a fake yfinance, never for production", settings.test_seam)
    return replace(market, name=f"test seam {Path(path).name}:{factory}")


def refreshes(settings: ServerSettings) -> bool:
    return settings.cfg.refresh_enabled and settings.source.kind in REFRESHED_SOURCES


def initial_state(settings: ServerSettings, market: LiveMarket) -> ServingState:
    """The state the service starts with: the live path for yfinance when it refreshes (so the start
    and every refresh see the same clock and downloader); auto keeps its fallbacks (load_state)."""
    from serving.state import load_state  # looked up per call: the loader tests record it

    if refreshes(settings) and settings.source.kind == "yfinance":
        return build_live_state(settings, 1, market, None)
    return load_state(settings)


def build_live_state(
    settings: ServerSettings, generation: int, market: LiveMarket, previous: ServingState | None
) -> ServingState:
    """A complete new state. With a `previous` state, any required series without fresh data (daily,
    or intraday while in session) or a universe it served and this one cannot raises RefreshFailed;
    at start (no previous) the cache serves what the network cannot, as yfinance loads always did."""
    t0, now = time.perf_counter(), market.now()
    cfg, fcfg = settings.cfg, settings.feature_cfg
    universes: dict[str, Universe] = {}
    failed: dict[str, UniverseFailure] = {}
    for name in cfg.universes:
        try:
            universes[name] = load_universe(name)
        except SectorHeatmapError as exc:
            failed[name] = UniverseFailure(name, f"universe {name!r}: {exc}", settings.source)
    problems: list[str] = []
    fetches: dict[str, yahoo.YahooFetch | None] = {}
    downloaded: dict[str, bool] = {}
    today: dict[str, IntradayBars | None] = {}
    for cal in dict.fromkeys(u.calendar for u in universes.values()):
        mine = [u for u in universes.values() if u.calendar == cal]
        calls: list[int] = []
        daily = market.daily or yahoo.yf_download

        def counted(*args, _daily=daily, _calls=calls):
            _calls.append(1)
            return _daily(*args)

        tickers = list(dict.fromkeys(t for u in mine for t in u.tickers()))
        names = [n for n, u in universes.items() if u.calendar == cal]
        if _daily_complete(previous, names, cal, now):
            fetches[cal], downloaded[cal] = None, False  # in session: nothing to read or download
        else:
            fetches[cal] = yahoo.load_yfinance(
                tickers, deadline_s=fcfg.download_deadline_s, calendar=cal, downloader=counted, now=now
            )
            downloaded[cal] = bool(calls)
        today[cal] = None
        if cfg.intraday_interval and market_phase(cal, now).open:
            intraday = list(dict.fromkeys(t for u in mine for t in required_tickers(u)))
            today[cal] = load_intraday(
                intraday,
                cal,
                now,
                interval=cfg.intraday_interval,
                deadline_s=fcfg.download_deadline_s,
                downloader=market.intraday,
            )
    out: dict[str, UniverseState] = {}
    for name, uni in universes.items():
        fetch, bars = fetches[uni.calendar], today[uni.calendar]
        required = required_tickers(uni)
        if bars is not None and (lacking := [t for t in required if t in bars.failed]):
            problems.append(f"{name}: no intraday bars for {', '.join(lacking)} ({bars.failed[lacking[0]]})")
        if fetch is None:  # the previous dataset is complete: only today's view is new
            assert previous is not None
            kept = previous.universes[name]
            out[name] = replace(kept, intraday=IntradayView.build(kept.dataset, bars, cfg))
            continue
        missing = [t for t in required if t not in fetch.raw]
        if missing:
            why = "; ".join(f"{t}: {fetch.failed.get(t, 'no data')}" for t in missing)
            failed[name] = UniverseFailure(
                name, f"universe {name!r}: no data, fresh or cached, for {', '.join(missing)} ({why})", settings.source
            )
            continue
        stale = [t for t in required if t in fetch.failed]
        if stale:
            problems.append(f"{name}: no fresh daily data for {', '.join(stale)} ({fetch.failed[stale[0]]})")
        before = None if previous is None else previous.universes.get(name)
        try:
            out[name] = _universe_state(name, uni, fetch, downloaded[uni.calendar], bars, before, settings)
        except SectorHeatmapError as exc:
            failed[name] = UniverseFailure(name, f"universe {name!r}: {exc}", settings.source, uni.name)
    state = ServingState(out, generation, time.perf_counter() - t0, failed)
    if previous is not None:
        problems += [failed[n].reason for n in state.lost(previous)]
        if problems:
            raise RefreshFailed("; ".join(problems))
    elif not out:
        raise SourceError("; ".join(f.reason for f in failed.values()) or "no universe configured")
    for problem in problems:
        log.warning("start-up data: %s", problem)
    return state


def _daily_complete(previous: ServingState | None, names: list[str], calendar: str, now: pd.Timestamp) -> bool:
    """Every universe on `calendar` already holds the last completed session of each required ticker, from
    yfinance: then an in-session refresh reads no cache file and downloads no daily bar."""
    if previous is None:
        return False
    complete = last_complete_session(calendar, now)
    for name in names:
        u = previous.universes.get(name)
        if u is None or u.dataset.source.kind != "yfinance":
            return False
        ends = (
            u.dataset.bars.groupby("ticker", observed=True)["date"].max().reindex(required_tickers(u.dataset.universe))
        )
        if ends.isna().any() or bool((ends < complete).any()):
            return False
    return True


def _universe_state(
    name: str,
    uni: Universe,
    fetch: yahoo.YahooFetch,
    downloaded: bool,
    bars: IntradayBars | None,
    before: UniverseState | None,
    settings: ServerSettings,
) -> UniverseState:
    """One universe's new state: its previous dataset and champion when nothing new was downloaded."""
    mine = [t for t in uni.tickers() if t in fetch.raw or t in fetch.failed]
    through = fetch.last_date(required_tickers(uni))
    live_before = before is not None and before.dataset.source.kind in ("yfinance", "cache")  # not auto's demo
    if before is not None and live_before and not downloaded and before.dataset.data_through == through:
        ds = before.dataset  # the same completed sessions: features already built
    else:
        ds = _dataset(uni, fetch, mine, settings)
    if before is not None and before.dataset.source.synthetic == ds.source.synthetic:
        champion, status = before.champion, before.model_status
        if champion is not None and ds is not before.dataset and (why := model_fits(champion, ds)) is not None:
            champion, status = None, why
    else:  # at start, or auto's demo fallback replaced by real data: the registry decides again
        loaded = load_universe_state(name, settings, dataset=ds)
        champion, status = loaded.champion, loaded.model_status
    return UniverseState(ds, champion, status, IntradayView.build(ds, bars, settings.cfg))


def _dataset(uni: Universe, fetch: yahoo.YahooFetch, tickers: list[str], settings: ServerSettings) -> MarketDataset:
    """Validated bars of `uni`'s tickers from the batched fetch, and its (lazily built) feature table."""
    sub = yahoo.YahooFetch(
        raw={t: fetch.raw[t] for t in tickers if t in fetch.raw},
        where={t: fetch.where[t] for t in tickers if t in fetch.where},
        failed={t: fetch.failed[t] for t in tickers if t in fetch.failed},
        report=ValidationReport([f for f in fetch.report.findings if f.ticker in set(tickers)]),
        notes=[n for n in fetch.notes if any(t in n for t in tickers)],
    )
    fresh = any(t not in fetch.failed for t in required_tickers(uni))
    source = DataSource("yfinance") if fresh else DataSource("cache", location=fetch_dir(None))
    market = validated(sub, uni, source, None, settings.feature_cfg.validation)
    ds = MarketDataset.from_market(market, uni, settings.feature_cfg)
    check_serving_columns(settings.cfg, ds)
    _ = ds.features  # built here, on the loader thread, never by the first request
    return ds
