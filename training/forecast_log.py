"""The live forecast log: every forecast served for a date, kept once, so it can be scored when its horizon ends.

One SQLite file beside the MLflow database (`<store>/forecasts.db`, never committed). A row is one
(universe, date, sector, horizon, model name, model version) with the prediction, its interval and
P(outperform); the primary key plus INSERT OR IGNORE keeps the first forecast of a date and makes
logging the same answer again a no-op.

Writing must never fail a request: a locked database is skipped (the next answer for that date tries
again), an unreadable one is set aside (renamed `forecasts.db.corrupt-<time>`) and rebuilt, and both are
reported in `ForecastLog.status`. Reading (the scorecard) raises ForecastLogError with one plain line.

Which dates may be logged (`loggable_day`):
  - completed sessions only: a date after the exchange's last completed session (today's bar, partial
    while the market is open) is never a forecast date;
  - dates the model never saw: after the last session its training data could reach (its last training
    row plus `step` sessions, see `first_live_session`), so a replay with a later model logs nothing and
    the scorecard can never score in-sample fit.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.errors import ModelError

DB_FILE = "forecasts.db"
BUSY_TIMEOUT_S = 0.25  # a writer on the request path waits at most this long for another one
COLUMNS = (
    "universe",
    "date",
    "sector",
    "horizon",
    "sessions",
    "prediction",
    "lower",
    "upper",
    "prob_outperform",
    "model_name",
    "model_version",
    "run_id",
    "logged_at",
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS forecasts (
    universe TEXT NOT NULL,
    date TEXT NOT NULL,
    sector TEXT NOT NULL,
    horizon TEXT NOT NULL,
    sessions INTEGER NOT NULL,
    prediction REAL,
    lower REAL,
    upper REAL,
    prob_outperform REAL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    run_id TEXT,
    logged_at TEXT NOT NULL,
    PRIMARY KEY (universe, date, sector, horizon, model_name, model_version)
)
"""
INSERT = f"INSERT OR IGNORE INTO forecasts ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"

OK = "ok"
REBUILT = "rebuilt"
log = logging.getLogger("sector_heatmap.training")


class ForecastLogError(ModelError):
    """The forecast log cannot be read (missing, locked or not a forecast log); the message says which."""


def log_path(store_dir: str | Path) -> Path:
    return Path(store_dir) / DB_FILE


def first_live_session(dates: pd.DatetimeIndex, trained_to, step: int) -> pd.Timestamp | None:
    """The first session after every price the model's training could have seen, or None if not in `dates`.

    Training samples every `step`-th session up to its last row `trained_to` (training_window[1]); the data
    behind it ends before the next sample session, so a forecast from that session on is out of sample."""
    pos = int(dates.searchsorted(pd.Timestamp(trained_to), side="right")) + max(step, 1) - 1
    return dates[pos] if pos < len(dates) else None


def loggable_day(
    day: pd.Timestamp, dates: pd.DatetimeIndex, trained_to, step: int, last_complete_session
) -> tuple[bool, str]:
    """(whether a forecast for `day` is logged, why not). `last_complete_session` is the exchange's last
    session whose close is in (serving.freshness: the last session before today)."""
    day = pd.Timestamp(day)
    if day > pd.Timestamp(last_complete_session):
        return False, f"{day.date()} is not a completed session yet (its bar may be partial)"
    first = first_live_session(dates, trained_to, step)
    if first is None or day < first:
        return False, f"{day.date()} is inside the model's training data (trained through {trained_to})"
    return True, ""


def forecast_rows(
    universe: str,
    day: pd.Timestamp,
    preds: pd.DataFrame,
    horizons: dict[str, int],
    card: dict,
    logged_at: str | None = None,
) -> list[tuple]:
    """Rows for INSERT from one date's predictions (indexed by sector; pred_H, lower_H, upper_H, prob_outperform_H)."""
    when = logged_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    date = pd.Timestamp(day).date().isoformat()
    name, version, run_id = str(card.get("name")), str(card.get("version")), card.get("run_id")
    out = []
    for h, sessions in horizons.items():
        cols = [f"{k}_{h}" for k in ("pred", "lower", "upper", "prob_outperform")]
        block = preds.reindex(columns=cols)
        for sector, values in zip(block.index, block.to_numpy(dtype="float64")):
            if values[0] != values[0]:  # NaN prediction: nothing was forecast
                continue
            vals = [None if v != v else float(v) for v in values]
            out.append((universe, date, str(sector), h, int(sessions), *vals, name, version, run_id, when))
    return out


@dataclass
class ForecastLog:
    """One forecast log file. `write` never raises; `status` says how the last write went."""

    path: Path
    busy_timeout_s: float = BUSY_TIMEOUT_S
    status: str = OK

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._lock = threading.Lock()  # one writer per process at a time (SQLite serialises processes)
        self._con: sqlite3.Connection | None = None
        self._inode: int | None = None

    def _connection(self) -> sqlite3.Connection:
        """The writer's connection, kept open: opening and closing one per write costs a WAL checkpoint and an
        fsync (~15 ms here) against ~0.3 ms for an INSERT on an open one. Reopened when the file was replaced
        or removed (checked by inode)."""
        try:
            inode: int | None = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        if self._con is not None and inode is not None and inode == self._inode:
            return self._con
        self._close()
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False)
        try:
            # WAL + synchronous=NORMAL: a commit appends without an fsync; a power cut may lose the last answers'
            # rows, never corrupt the file; readers (the scorecard) never block the writer.
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(SCHEMA)
        except BaseException:
            con.close()
            raise
        self._con, self._inode = con, self.path.stat().st_ino
        return con

    def _close(self) -> None:
        if self._con is not None:
            with contextlib.suppress(sqlite3.Error):
                self._con.close()
            self._con = self._inode = None

    def write(self, rows: Sequence[tuple]) -> int:
        """Insert `rows` (forecast_rows), keeping the first forecast of each key; returns how many were new."""
        if not rows:
            return 0
        with self._lock:
            rebuilt = False
            for attempt in range(2):
                try:
                    con = self._connection()
                    with con:
                        before = con.total_changes
                        con.executemany(INSERT, rows)
                        added = con.total_changes - before
                    if not rebuilt:
                        self.status = OK
                    return added
                except sqlite3.OperationalError as exc:
                    self._close()
                    if "locked" in str(exc) or "busy" in str(exc):
                        self.status = "busy: the forecast log was locked by another process; this answer was not logged"
                        log.warning("forecast log %s is locked: %d forecasts not logged", self.path, len(rows))
                        return 0
                    if attempt == 0 and self._set_aside(exc):
                        rebuilt = True
                        continue
                    return self._unavailable(exc, len(rows))
                except sqlite3.DatabaseError as exc:  # not a database, malformed: set it aside, start a new one
                    self._close()
                    if attempt == 0 and self._set_aside(exc):
                        rebuilt = True
                        continue
                    return self._unavailable(exc, len(rows))
                except OSError as exc:
                    self._close()
                    return self._unavailable(exc, len(rows))
        return 0

    def _set_aside(self, exc: BaseException) -> bool:
        """Rename an unreadable log out of the way (kept for inspection) so a new one can be started."""
        if not self.path.is_file():
            return False
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
        try:
            self.path.rename(aside)
            for extra in ("-wal", "-shm"):  # the set-aside file's own journal, if any, goes with it
                side = self.path.with_name(self.path.name + extra)
                if side.exists():
                    side.rename(aside.with_name(aside.name + extra))
        except OSError:
            return False
        log.error(
            "forecast log %s could not be written (%s): set aside as %s, a new one is started", self.path, exc, aside
        )
        self.status = f"{REBUILT}: the forecast log was unreadable; it was set aside and a new one started"
        return True

    def _unavailable(self, exc: BaseException, n: int) -> int:
        log.error("forecast log %s cannot be written (%s): %d forecasts not logged", self.path, exc, n)
        self.status = "unavailable: the forecast log cannot be written; forecasts are not being logged"
        return 0

    def read(
        self, universe: str | None = None, model_name: str | None = None, model_version: str | None = None
    ) -> pd.DataFrame:
        """Logged forecasts (COLUMNS, `date` as a timestamp), optionally of one universe and model version."""
        if not self.path.is_file():
            return empty_frame()
        where, args = [], []
        for col, value in (("universe", universe), ("model_name", model_name), ("model_version", model_version)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        sql = f"SELECT {', '.join(COLUMNS)} FROM forecasts" + (f" WHERE {' AND '.join(where)}" if where else "")
        try:
            con = sqlite3.connect(self.path, timeout=self.busy_timeout_s)  # the file exists: nothing is created
            try:
                rows = con.execute(sql, args).fetchall()
            finally:
                con.close()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return empty_frame()
            raise ForecastLogError(f"the forecast log {self.path} cannot be read now ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise ForecastLogError(f"the forecast log {self.path} is not a forecast log ({exc})") from exc
        return frame_of(rows)


def empty_frame() -> pd.DataFrame:
    return frame_of([])


def frame_of(rows: Iterable[tuple]) -> pd.DataFrame:
    out = pd.DataFrame(list(rows), columns=list(COLUMNS))
    out["date"] = pd.to_datetime(out["date"])
    for col in ("prediction", "lower", "upper", "prob_outperform"):
        out[col] = out[col].astype("float64")
    return out
