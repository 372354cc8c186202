"""One news refresh, for the scheduled refresh to call: fetch the universe's headlines, score the
new ones, keep them in the store and record today's per-sector aggregates."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.calendar import utc
from features.news.aggregates import SectorNews, record_daily, universe_news
from features.news.config import NewsConfig
from features.news.fetch import NewsFetcher, fetch_news, news_tickers
from features.news.scorer import SentimentScorer, default_scorer
from features.news.store import HeadlineStore, store_path
from features.universe import Universe

log = logging.getLogger(__name__)


@dataclass
class NewsRefresh:
    fetched: int = 0
    new: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    news: dict[str, SectorNews] = field(default_factory=dict)
    at: pd.Timestamp | None = None


def open_store(cache_dir: Path) -> HeadlineStore:
    return HeadlineStore(store_path(cache_dir))


def due(last: pd.Timestamp | None, now: pd.Timestamp, cfg: NewsConfig) -> bool:
    """News is fetched at most every cfg.refresh_minutes, however often prices refresh."""
    return cfg.enabled and (last is None or now - last >= pd.Timedelta(minutes=cfg.refresh_minutes))


def refresh_news(
    store: HeadlineStore,
    universe: Universe,
    cfg: NewsConfig,
    *,
    now=None,
    fetcher: NewsFetcher | None = None,
    scorer: SentimentScorer | None = None,
) -> NewsRefresh:
    now = pd.Timestamp.now(tz="UTC") if now is None else utc(now)  # a naive `now` is UTC, as elsewhere
    scorer = scorer or default_scorer()
    got = fetch_news(news_tickers(universe, cfg.holdings, cfg.members_max), fetcher, cfg.fetch_deadline_s)
    result = NewsRefresh(failed=dict(got.failed), at=now)
    for sector, items in got.items.items():
        fresh = [i for i in items if i.published <= now]  # a clock-skewed future item waits for its time
        result.fetched += len(fresh)
        result.new += store.add(universe.name, sector, [(i, scorer.score(i.title)) for i in fresh], scorer.version, now)
    result.news = universe_news(store, universe.name, [s.key for s in universe.sectors], now, cfg)
    record_daily(store, universe.name, result.news, now)
    if got.failed:
        log.info("news: %d ticker(s) failed: %s", len(got.failed), ", ".join(sorted(got.failed)))
    return result
