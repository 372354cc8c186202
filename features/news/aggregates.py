"""Per-sector news aggregates as of a moment: recency-weighted sentiment, attention (headline count
vs its own trailing average) and the latest headlines. Only headlines published at or before
`as_of` are read, so a past as_of never sees later news."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.calendar import utc
from features.news.config import NewsConfig
from features.news.store import HeadlineStore, StoredHeadline, store_path

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class SectorNews:
    sector: str
    headlines: int  # published within the sentiment window
    sentiment: float | None  # recency-weighted mean score in [-1, 1]; None without headlines
    volume: float | None  # headlines in the attention window / their trailing daily average; None without history
    recent: int  # published within the attention window
    top: tuple[StoredHeadline, ...] = field(default_factory=tuple)


def recency_weighted(items: list[StoredHeadline], as_of: pd.Timestamp, half_life_days: float) -> float | None:
    if not items:
        return None
    weights = [0.5 ** (max((as_of - h.published) / DAY, 0.0) / half_life_days) for h in items]
    return sum(w * h.score for w, h in zip(weights, items)) / sum(weights)


def sector_news(store: HeadlineStore, universe: str, sector: str, as_of, cfg: NewsConfig) -> SectorNews:
    as_of = utc(as_of)
    window = store.headlines(universe, sector, as_of - pd.Timedelta(days=cfg.window_days), as_of)
    attention_start = as_of - pd.Timedelta(days=cfg.attention_days)
    recent = [h for h in window if h.published > attention_start]
    return SectorNews(
        sector=sector,
        headlines=len(window),
        sentiment=recency_weighted(window, as_of, cfg.half_life_days),
        volume=_attention(store, universe, sector, as_of, len(recent), cfg),
        recent=len(recent),
        top=tuple(window[: cfg.top]),
    )


def _attention(store: HeadlineStore, universe: str, sector: str, as_of, recent: int, cfg: NewsConfig) -> float | None:
    """Recent count over the trailing daily average. The baseline spans only the days the store has
    been fetching this sector (a young store is not a news spike); too little of it gives None."""
    first = store.first_fetch(universe, sector)
    end = as_of - pd.Timedelta(days=cfg.attention_days)
    if first is None:
        return None
    start = max(end - pd.Timedelta(days=cfg.baseline_days), first - pd.Timedelta(days=cfg.attention_days))
    covered = (end - start) / DAY
    if covered < cfg.min_baseline_days:
        return None
    per_window = len(store.headlines(universe, sector, start, end)) / covered * cfg.attention_days
    return recent / per_window if per_window > 0 else None


def universe_news(
    store: HeadlineStore, universe: str, sectors: list[str], as_of, cfg: NewsConfig
) -> dict[str, SectorNews]:
    return {s: sector_news(store, universe, s, as_of, cfg) for s in sectors}


def record_daily(store: HeadlineStore, universe: str, news: dict[str, SectorNews], as_of) -> None:
    """Keep today's aggregates (as seen at as_of) for training once enough history exists."""
    as_of = utc(as_of)
    day = as_of.strftime("%Y-%m-%d")
    store.record_daily(universe, [(s, day, as_of, n.headlines, n.sentiment, n.volume) for s, n in news.items()])


def training_history(store: HeadlineStore, universe: str, cfg: NewsConfig) -> tuple[pd.DataFrame | None, str]:
    """The daily news aggregates if enough days exist to train on, else None and why. Missing days
    stay missing (never zero-filled); each row was recorded from headlines published by its own
    as_of, which is never after the end of its day."""
    daily = store.daily(universe)
    days = daily["date"].nunique()
    if days < cfg.min_history_days:
        return None, f"news sentiment unavailable for training: {days} day(s) of history, {cfg.min_history_days} needed"
    return daily, f"news sentiment: {days} days of history, enough to become a training feature (not yet used)"


def news_feature_status(universe: str, cache_dir: Path, cfg: NewsConfig) -> str:
    """One line for `sector-heatmap train`: whether news sentiment has enough recorded history."""
    path = store_path(cache_dir)
    if not path.is_file():
        return f"news sentiment unavailable for training: no headline store at {path}"
    store = HeadlineStore(path)
    try:
        return (f"{store.rebuilt}; " if store.rebuilt else "") + training_history(store, universe, cfg)[1]
    finally:
        store.close()
