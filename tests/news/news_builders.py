"""Fake yfinance `Ticker.news` items in both shapes, and a scored store to read (no network)."""

from __future__ import annotations

import pandas as pd

from features.news.fetch import NewsItem
from features.news.scorer import Sentiment
from features.news.store import HeadlineStore

NOW = pd.Timestamp("2026-11-20 15:00", tz="UTC")


def old_item(uuid: str, title: str, when: pd.Timestamp, link: str | None = None, related=("AAPL",)) -> dict:
    """The pre-2025 flat shape."""
    return {
        "uuid": uuid,
        "title": title,
        "publisher": "Reuters",
        "link": link or f"https://example.com/{uuid}",
        "providerPublishTime": int(when.timestamp()),
        "type": "STORY",
        "relatedTickers": list(related),
    }


def new_item(item_id: str, title: str, when: pd.Timestamp, url: str | None = None) -> dict:
    """The nested `content` shape served since 2025."""
    return {
        "id": item_id,
        "content": {
            "id": item_id,
            "contentType": "STORY",
            "title": title,
            "summary": "...",
            "pubDate": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "provider": {"displayName": "Yahoo Finance"},
            "canonicalUrl": {"url": url or f"https://finance.example.com/{item_id}"},
        },
    }


def put(store: HeadlineStore, universe: str, sector: str, rows, fetched=NOW) -> None:
    """rows: (id, published, score); each stored as a headline of `sector`."""
    items = [
        (
            NewsItem(i, f"headline {i}", pd.Timestamp(t), "Wire", f"https://x/{i}", (sector,)),
            Sentiment("positive" if s > 0 else "negative" if s < 0 else "neutral", s, (0.0, 1.0, 0.0)),
        )
        for i, t, s in rows
    ]
    store.add(universe, sector, items, "test", fetched)
