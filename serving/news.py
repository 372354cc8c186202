"""News in the heatmap and behind POST /news / the get_sector_news tool: the headline store
(features/news) read at a moment that never lies after the answer's as_of.

The heatmap frame gets two more descriptive inputs per sector (news sentiment and news volume, shown
by the columns in serving/columns.py) and, where a sector has enough recent headlines, news
sentiment joins the health score's sentiment component; each sector says which inputs it used.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import RequestError
from features.news.aggregates import SectorNews, sector_news, universe_news
from features.news.config import NewsConfig
from features.news.store import HeadlineStore, StoredHeadline, store_path
from serving.health_score import health_scores, with_component_input

log = logging.getLogger("sector_heatmap.serving")

NEWS_SENTIMENT = "news_sentiment"  # descriptive: recency-weighted mean headline score
NEWS_VOLUME = "news_volume"  # descriptive: attention, recent headline count vs its trailing average
NEWS_HEALTH = "news_sentiment"  # the health input's name (NaN where a sector has too few headlines)
_HEALTH_COLUMN = "__news_sentiment_health"
MAX_DAYS = 90


def news_moment(as_of: pd.Timestamp | None, now: pd.Timestamp) -> pd.Timestamp:
    """The moment news is read at: now for the latest answer; the end of a requested day (never past now)
    for an as_of, so a past heatmap never sees later headlines."""
    now = now.tz_localize("UTC") if now.tz is None else now.tz_convert("UTC")
    if as_of is None:
        return now
    day = pd.Timestamp(as_of.date(), tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return min(day, now)


def headline_dict(h: StoredHeadline) -> dict:
    return {
        "title": h.title,
        "provider": h.provider,
        "published": h.published.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "url": h.url,
        "tickers": list(h.tickers),
        "label": h.label,
        "score": round(h.score, 3),
    }


class NewsDesk:
    """The service's read side of the headline store. A store that cannot be opened leaves the news
    columns empty with a status saying why; it never stops the service."""

    def __init__(self, cfg: NewsConfig, cache_dir: Path | None) -> None:
        self.cfg = cfg
        self.store: HeadlineStore | None = None
        self.note: str | None = None
        self._last: dict[str, pd.Timestamp] = {}  # universe -> last news refresh (this process)
        if not cfg.enabled or cache_dir is None:
            self.note = "news disabled"
            return
        try:
            self.store = HeadlineStore(store_path(cache_dir))
            self.note = self.store.rebuilt
        except OSError as exc:
            self.note = f"headline store unavailable: {exc}"
            log.warning(self.note)

    def refresh(self, universes, now=None, fetcher=None, force: bool = False) -> dict:
        """Fetch, score and store the headlines of each universe (features.news.Universe objects) whose last
        news refresh is at least cfg.refresh_minutes old; for the scheduled refresh to call off the request
        path, before it swaps in its new state (the swap clears cached answers). Returns what each did."""
        from features.news.refresh import due, refresh_news

        now = pd.Timestamp.now("UTC") if now is None else pd.Timestamp(now)
        done: dict = {}
        if self.store is None:
            return done
        for uni in universes:
            if force or due(self._last.get(uni.name), now, self.cfg):
                done[uni.name] = refresh_news(self.store, uni, self.cfg, now=now, fetcher=fetcher)
                self._last[uni.name] = now
        return done

    def version(self) -> int:
        """Changes whenever headlines are added: part of every cache key that shows news."""
        return -1 if self.store is None else self.store.version()

    def status(self) -> dict:
        return {
            "store": None if self.store is None else str(self.store.path),
            "headlines": 0 if self.store is None else self.store.count(),
            "note": self.note,
        }

    def sectors(self, universe: str, keys: list[str], at: pd.Timestamp) -> dict[str, SectorNews]:
        return {} if self.store is None else universe_news(self.store, universe, keys, at, self.cfg)

    def sector(self, universe: str, sector: str, at: pd.Timestamp, days: float) -> SectorNews | None:
        if self.store is None:
            return None
        return sector_news(self.store, universe, sector, at, replace(self.cfg, window_days=days, top=10**6))


def with_news(frame, news: dict[str, SectorNews], cfg: NewsConfig):
    """The heatmap frame with news inputs in its rows and the health score recomputed, news sentiment
    counting in the sentiment component only for sectors with >= cfg.min_headlines recent headlines."""
    rows = frame.rows.copy()
    got = [news.get(k) for k in rows.index]
    rows[NEWS_SENTIMENT] = [np.nan if n is None or n.sentiment is None else n.sentiment for n in got]
    rows[NEWS_VOLUME] = [np.nan if n is None or n.volume is None else n.volume for n in got]
    enough = [n is not None and n.headlines >= cfg.min_headlines for n in got]
    rows[_HEALTH_COLUMN] = np.where(enough, rows[NEWS_SENTIMENT], np.nan)
    if not any(enough):
        return replace(frame, rows=rows)
    from serving.heatmap import _health_inputs

    components = with_component_input(frame.cfg.health_components, "sentiment", _HEALTH_COLUMN)
    inputs = _health_inputs(
        rows, frame.matrix.spreads_pp, frame.preds, frame.horizon, replace(frame.cfg, health_components=components)
    )
    health = health_scores(inputs, components, frame.weights)
    return replace(frame, rows=rows, health=health)


def news_block(
    resp: dict, frame, news: dict[str, SectorNews], cfg: NewsConfig, at: pd.Timestamp, note: str | None
) -> dict:
    """The response with each sector's `news` (count, top headlines, inputs its sentiment component used)."""
    sentiment_inputs = list(frame.cfg.health_components.get("sentiment", ()))
    for s in resp["sectors"]:
        n = news.get(s["ticker"])
        used = n is not None and n.headlines >= cfg.min_headlines
        s["news"] = {
            "headlines": 0 if n is None else n.headlines,
            "recent": 0 if n is None else n.recent,
            "top": [] if n is None else [headline_dict(h) for h in n.top],
            "sentiment_inputs": sentiment_inputs + ([NEWS_HEALTH] if used else []),
        }
    resp["news"] = {
        "read_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_days": cfg.window_days,
        "half_life_days": cfg.half_life_days,
        "min_headlines": cfg.min_headlines,
        "note": note,
    }
    return resp


def check_days(days) -> float:
    if days is None:
        return 7.0
    if isinstance(days, bool) or not isinstance(days, int | float) or not (0 < float(days) <= MAX_DAYS):
        raise RequestError(f"days: expected a number of days in (0, {MAX_DAYS}], got {days!r}"[:120])
    return float(days)


def heatmap_with_news(ds, req, champion, model_status, cfg, desk: NewsDesk, now=None, record=None) -> dict:
    """serving.heatmap.build_heatmap plus the news columns, blocks and health input (one path for the
    service, the MCP tools and the terminal). `record(frame)`, when given, sees the computed frame first
    (the live forecast log, serving/live_scorecard.py)."""
    from serving.heatmap import compute_heatmap, heatmap_response

    frame = compute_heatmap(ds, req, champion, model_status, cfg, now)
    if record is not None:
        record(frame)
    at = news_moment(None if frame.req.as_of is None else frame.day, frame.now)  # the session answered
    news = desk.sectors(ds.universe.name, list(frame.rows.index), at)
    frame = with_news(frame, news, desk.cfg)
    return news_block(heatmap_response(frame), frame, news, desk.cfg, at, desk.note)


def news_answer(desk: NewsDesk, ds, sector: str, days, as_of, now: pd.Timestamp) -> dict:
    """get_sector_news: one sector's headlines over the last `days` before the moment read, newest first,
    with the sector's news sentiment and volume."""
    uni = ds.universe
    wanted = sector.strip() if isinstance(sector, str) else ""
    match = next((s for s in uni.sectors if wanted.upper() == s.key.upper() or wanted.lower() == s.name.lower()), None)
    if match is None:
        names = ", ".join(s.key for s in uni.sectors)
        raise RequestError(f"sector: unknown {wanted[:40]!r} in universe {uni.name!r}; expected one of {names}")
    span = check_days(days)
    at = news_moment(as_of, now)
    n = desk.sector(uni.name, match.key, at, span)
    # sentiment and volume over the configured window: the same read as `n` when `days` is that window (the default)
    same = n is None or span == desk.cfg.window_days
    summary = n if same else desk.sector(uni.name, match.key, at, desk.cfg.window_days)
    return {
        "universe": uni.name,
        "sector": match.key,
        "name": ds.panels.names.get(match.key, match.name),
        "read_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days": span,
        "news_sentiment": None if summary is None or summary.sentiment is None else round(summary.sentiment, 3),
        "news_volume": None if summary is None or summary.volume is None else round(summary.volume, 2),
        "headline_count": 0 if n is None else n.headlines,
        "headlines": [] if n is None else [headline_dict(h) for h in n.top],
        "scorer": "embedded finance sentiment scorer (features/news/scorer.py); score = P(positive) - P(negative)",
        "note": desk.note,
    }
