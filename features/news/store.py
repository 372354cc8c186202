"""The local headline store: one SQLite file under the cache directory (never in git).

It keeps every scored headline (publish time, provider, title, tickers, score) and the daily
per-sector aggregates, so news sentiment can become a training feature once history exists. It
survives restarts; a file SQLite cannot read is moved aside, reported, and rebuilt empty.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.calendar import utc
from features.news.fetch import NewsItem
from features.news.scorer import Sentiment

log = logging.getLogger(__name__)

FILE_NAME = "headlines.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS headlines (
    id TEXT PRIMARY KEY, url TEXT, title TEXT NOT NULL, provider TEXT, published INTEGER NOT NULL,
    fetched INTEGER NOT NULL, tickers TEXT, score REAL NOT NULL, label TEXT NOT NULL, model TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS headlines_url ON headlines(url) WHERE url IS NOT NULL;
CREATE TABLE IF NOT EXISTS headline_sectors (
    id TEXT NOT NULL, universe TEXT NOT NULL, sector TEXT NOT NULL, PRIMARY KEY (id, universe, sector));
CREATE INDEX IF NOT EXISTS headline_sectors_by_sector ON headline_sectors(universe, sector);
CREATE TABLE IF NOT EXISTS fetches (universe TEXT NOT NULL, sector TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS daily (
    universe TEXT NOT NULL, sector TEXT NOT NULL, day TEXT NOT NULL, as_of INTEGER NOT NULL,
    headlines INTEGER NOT NULL, sentiment REAL, attention REAL, PRIMARY KEY (universe, sector, day));
"""


def store_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / "news" / FILE_NAME


def _epoch(ts: pd.Timestamp) -> int:
    return int(utc(ts).timestamp())


@dataclass(frozen=True)
class StoredHeadline:
    id: str
    title: str
    provider: str
    url: str | None
    published: pd.Timestamp
    tickers: tuple[str, ...]
    score: float
    label: str


class HeadlineStore:
    """Thread-safe (one connection behind a lock; the service reads it from request threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rebuilt: str | None = None  # why the file was rebuilt on open, if it was
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            self.path.replace(aside)
            self.rebuilt = f"headline store {self.path} could not be read ({exc}); moved to {aside.name}, rebuilt empty"
            log.warning(self.rebuilt)
            self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        try:
            row = conn.execute("PRAGMA quick_check").fetchone()
            if not row or row[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {row[0] if row else 'no answer'}")
            conn.executescript(SCHEMA)
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add(
        self,
        universe: str,
        sector: str,
        items: Iterable[tuple[NewsItem, Sentiment]],
        model: str,
        fetched: pd.Timestamp,
    ) -> int:
        """Insert scored headlines for a sector (duplicates by id or URL are ignored, but still
        linked to this sector); returns how many headlines were new to the store."""
        at = _epoch(fetched)
        new = 0
        with self._lock, self._conn as c:
            for item, s in items:
                cur = c.execute(
                    "INSERT OR IGNORE INTO headlines VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        item.id,
                        item.url,
                        item.title,
                        item.provider,
                        _epoch(item.published),
                        at,
                        ",".join(item.tickers),
                        float(s.score),
                        s.label,
                        model,
                    ),
                )
                new += cur.rowcount
                found = c.execute(
                    "SELECT id FROM headlines WHERE id = ? OR (url IS NOT NULL AND url = ?)", (item.id, item.url)
                ).fetchone()
                c.execute("INSERT OR IGNORE INTO headline_sectors VALUES (?,?,?)", (found[0], universe, sector))
            c.execute("INSERT INTO fetches VALUES (?,?,?)", (universe, sector, at))
        return new

    def headlines(self, universe: str, sector: str, since: pd.Timestamp, until: pd.Timestamp) -> list[StoredHeadline]:
        """Headlines of a sector published in (since, until], newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT h.id, h.title, h.provider, h.url, h.published, h.tickers, h.score, h.label "
                "FROM headlines h JOIN headline_sectors s ON s.id = h.id "
                "WHERE s.universe = ? AND s.sector = ? AND h.published > ? AND h.published <= ? "
                "ORDER BY h.published DESC, h.id",
                (universe, sector, _epoch(since), _epoch(until)),
            ).fetchall()
        return [
            StoredHeadline(
                r[0],
                r[1],
                r[2] or "",
                r[3],
                pd.Timestamp(r[4], unit="s", tz="UTC"),
                tuple(t for t in (r[5] or "").split(",") if t),
                float(r[6]),
                r[7],
            )
            for r in rows
        ]

    def first_fetch(self, universe: str, sector: str) -> pd.Timestamp | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT MIN(at) FROM fetches WHERE universe = ? AND sector = ?", (universe, sector)
            ).fetchone()
        return pd.Timestamp(row[0], unit="s", tz="UTC") if row and row[0] is not None else None

    def record_daily(
        self, universe: str, rows: Iterable[tuple[str, str, pd.Timestamp, int, float | None, float | None]]
    ):
        """(sector, day, as_of, headlines, sentiment, attention) per row; a later record of the same
        day replaces an earlier one (both only saw headlines published by their own as_of)."""
        with self._lock, self._conn as c:
            c.executemany(
                "INSERT OR REPLACE INTO daily VALUES (?,?,?,?,?,?,?)",
                [(universe, sector, day, _epoch(as_of), n, s, a) for sector, day, as_of, n, s, a in rows],
            )

    def daily(self, universe: str) -> pd.DataFrame:
        with self._lock:
            rows = self._conn.execute(
                "SELECT day, sector, headlines, sentiment, attention, as_of FROM daily WHERE universe = ? "
                "ORDER BY day, sector",
                (universe,),
            ).fetchall()
        frame = pd.DataFrame(rows, columns=["date", "sector", "headlines", "news_sentiment", "news_volume", "as_of"])
        frame["date"] = pd.to_datetime(frame["date"])
        frame["as_of"] = pd.to_datetime(frame["as_of"], unit="s", utc=True)
        return frame

    def version(self) -> int:
        """Grows with every fetch recorded (a cache key part for answers that show news)."""
        with self._lock:
            return int(self._conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM fetches").fetchone()[0])

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM headlines").fetchone()[0])
