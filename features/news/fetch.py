"""Headlines per sector from yfinance `Ticker.news`, for the sector's ETF and its largest holdings
(or, in a constituent universe, its members), parsed from either item shape Yahoo has served."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from features.calendar import utc
from features.universe import Universe

log = logging.getLogger(__name__)

# ticker -> the raw items yfinance returns for it (a fake in tests; the network in the product)
NewsFetcher = Callable[[str], list[dict]]


@dataclass(frozen=True)
class NewsItem:
    id: str
    title: str
    published: pd.Timestamp  # UTC
    provider: str = ""
    url: str | None = None
    tickers: tuple[str, ...] = ()


@dataclass
class NewsFetch:
    """What one fetch brought: items per sector key, and the tickers that failed (with why)."""

    items: dict[str, list[NewsItem]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: int = 0  # items that had no title or no publish time


def _when(value) -> pd.Timestamp | None:
    """Epoch seconds (old shape) or an ISO string (new shape) as a UTC timestamp."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float):
            ts = pd.Timestamp(int(value), unit="s", tz="UTC")
        else:
            ts = utc(str(value))
    except (ValueError, TypeError, OverflowError):
        return None
    return ts


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse_item(raw: Mapping, ticker: str) -> NewsItem | None:
    """One `Ticker.news` item in either shape: the pre-2025 flat one (title, publisher, link,
    providerPublishTime in epoch seconds, relatedTickers) or the nested `content` one (title,
    pubDate ISO, provider.displayName, canonicalUrl.url). None when it has no title or time."""
    if not isinstance(raw, Mapping):
        return None
    content = raw.get("content")
    if isinstance(content, Mapping):
        provider = content.get("provider")
        urls = [content.get(k) for k in ("canonicalUrl", "clickThroughUrl")]
        url = next((_text(u.get("url")) for u in urls if isinstance(u, Mapping) and _text(u.get("url"))), None)
        title = _text(content.get("title"))
        published = _when(content.get("pubDate") or content.get("displayTime"))
        provider_name = _text(provider.get("displayName")) if isinstance(provider, Mapping) else ""
        item_id = _text(raw.get("id")) or _text(content.get("id"))
        related: tuple[str, ...] = ()
    else:
        title = _text(raw.get("title"))
        published = _when(raw.get("providerPublishTime"))
        provider_name = _text(raw.get("publisher"))
        url = _text(raw.get("link")) or None
        item_id = _text(raw.get("uuid")) or _text(raw.get("id"))
        related = tuple(str(t) for t in raw.get("relatedTickers") or () if isinstance(t, str))
    if not title or published is None:
        return None
    if not item_id:  # dedupe key: the URL, else the title and provider
        item_id = hashlib.sha1((url or f"{title}|{provider_name}").encode()).hexdigest()
    tickers = tuple(dict.fromkeys((ticker, *related)))
    return NewsItem(item_id, title, published, provider_name, url, tickers)


def news_tickers(
    universe: Universe, holdings: Mapping[str, Mapping[str, tuple[str, ...]]], members_max: int
) -> dict[str, list[str]]:
    """Sector key -> tickers whose news counts for it: the ETF and the holdings configured for this
    universe, or the largest members (by weight when given) of a constituent sector."""
    extra = holdings.get(universe.name, {})
    out: dict[str, list[str]] = {}
    for s in universe.sectors:
        if s.ticker:
            out[s.key] = list(dict.fromkeys([s.ticker, *extra.get(s.key, ())]))
        else:
            members = sorted(s.members, key=lambda m: -(s.weights or {}).get(m, 0.0)) if s.weights else list(s.members)
            out[s.key] = list(dict.fromkeys([*extra.get(s.key, ()), *members]))[:members_max]
    return out


def fetch_news(
    tickers_by_sector: Mapping[str, list[str]], fetcher: NewsFetcher | None = None, deadline_s: float = 60.0
) -> NewsFetch:
    """Ask for each ticker once, within `deadline_s` in all; a failed ticker is recorded and the rest go
    on. Items are deduplicated per sector by id and URL. Yahoo unreachable: every ticker fails at once."""
    raw_by_ticker: dict[str, list] = {}
    result = NewsFetch()
    tickers = list(dict.fromkeys(t for ts in tickers_by_sector.values() for t in ts))
    if fetcher is None:
        from features.sources.yahoo import probe

        if not probe():
            result.failed = dict.fromkeys(tickers, "Yahoo unreachable")
            tickers = []
        fetcher = yfinance_news
    end = time.monotonic() + deadline_s
    for ticker in tickers:
        if time.monotonic() >= end:
            result.failed[ticker] = f"not asked: the {deadline_s:g} s news deadline had passed"
            continue
        try:
            got = fetcher(ticker)
            raw_by_ticker[ticker] = list(got) if isinstance(got, list | tuple) else []
        except Exception as exc:
            result.failed[ticker] = f"{type(exc).__name__}: {str(exc)[:160]}"
            log.debug("news for %s failed", ticker, exc_info=True)
    for sector, tickers in tickers_by_sector.items():
        seen: set[str] = set()
        items: list[NewsItem] = []
        for ticker in tickers:
            for raw in raw_by_ticker.get(ticker, []):
                item = parse_item(raw, ticker)
                if item is None:
                    result.skipped += 1
                    continue
                keys = {item.id, item.url} - {None}
                if keys & seen:
                    continue
                seen |= keys  # type: ignore[arg-type]
                items.append(item)
        result.items[sector] = items
    return result


NEWS_DEADLINE_S = 10.0  # per ticker


def yfinance_news(ticker: str) -> list[dict]:
    """The real call, bounded by a deadline (yfinance can hang on a network that never answers).
    Never called by the tests."""
    from features.sources.yahoo import with_deadline

    def call() -> list[dict]:
        import yfinance as yf  # lazy: slow to import

        return list(yf.Ticker(ticker).news or [])

    return with_deadline(call, NEWS_DEADLINE_S)
