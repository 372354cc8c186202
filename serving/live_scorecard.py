"""The engine's side of the live scorecard: log what a heatmap forecast, and show how logged forecasts did.

`record` runs only where a heatmap answer is computed (a response-cache miss), at most once per
(universe, date, model version) per process, and never raises: the forecast log (training/forecast_log.py)
skips a locked file and rebuilds a corrupt one, reporting it in each horizon's `live.status`.

`champion` returns the universe's champion with its card's skill extended by `live` per horizon (the
scorecard of matured live forecasts, training/scorecard.py), so the heatmap, `/model`, the page and the MCP
tools all show the live figures beside the backtest ones, and the health score reads the drift flag there
(serving/health_score.py). It is computed once per state (on first use) and recomputed only when a logged
forecast that has already matured in the served data is added (a past as_of) or the log's status changes:
then on one background thread, off the request path (a scorecard over a year of logs takes ~0.2 s), and the
new card is swapped in with a new `version`, part of the response-cache key. Until then answers keep the
previous card, consistently with their cache key.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pandas as pd

from training.forecast_log import OK, REBUILT, ForecastLog, ForecastLogError, forecast_rows, log_path, loggable_day

log = logging.getLogger("sector_heatmap.serving")


class LiveScorecards:
    """Per process: the forecast log of the settings' store, what was logged, the scorecards per state."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.store = Path(settings.store_dir)
        self.forecast_log = ForecastLog(log_path(self.store))
        self._lock = threading.Lock()
        self._seen: set[tuple] = set()
        self._versions: dict[int, int] = {}  # id(universe state) -> card refreshes while it serves
        self._cards: dict[int, tuple] = {}  # id(universe state) -> (state, champion with live card)
        self._queued: set[int] = set()  # states with a refresh waiting on the background thread
        self._epoch = 0  # bumped by clear(): a refresh started before a reload is dropped
        self._refresher: ThreadPoolExecutor | None = None

    def clear(self) -> None:
        """Forget the scorecards of the old state (a reload); what was logged stays logged."""
        with self._lock:
            self._cards.clear()
            self._versions.clear()
            self._queued.clear()
            self._epoch += 1

    def wait(self) -> None:
        """Block until every queued scorecard refresh is done (tests, benchmarks)."""
        if self._refresher is not None:
            self._refresher.submit(lambda: None).result()

    def has_store(self) -> bool:
        """Logs live beside an MLflow database: no store, no log (serving never creates a store)."""
        from training.store import DB_FILE

        return (self.store / DB_FILE).is_file()

    def version(self, u) -> int:
        return self._versions.get(id(u), 0)

    def model_version(self, u) -> str:
        """`u.model_version` for the response-cache key, changed when the live scorecard of this state changes."""
        n = self.version(u)
        return u.model_version if n == 0 else f"{u.model_version}+live{n}"

    # ---- logging -------------------------------------------------------------------------------
    def record(self, u, frame) -> None:
        """Log the forecasts of a computed heatmap frame (serving.heatmap.HeatmapFrame); never raises."""
        try:
            self._record(u, frame)
        except Exception:  # a bug here must not fail the answer: keep the traceback in the log
            log.exception("live forecast logging failed; the answer is served unlogged")

    def _record(self, u, frame) -> None:
        champion = u.champion
        if champion is None or frame.preds is None or not self.has_store():
            return
        ds, day = u.dataset, frame.day
        key = (ds.universe.name, day, u.model_version)
        if key in self._seen:
            return
        fc = champion.forecaster
        dates = ds.panels.dates
        ok, why = loggable_day(
            day, dates, fc.training_window[1], self.settings.train_cfg.step, completed_by(ds, frame.now)
        )
        if not ok:
            log.debug("forecasts of %s not logged: %s", day.date(), why)
            if "partial" not in why:  # a partial bar completes later: try again then
                self._seen.add(key)
            return
        horizons = {h: hm.sessions for h, hm in fc.horizons.items()}
        rows = forecast_rows(ds.universe.name, day, frame.preds, horizons, champion.card or {})
        before = self.forecast_log.status
        added = self.forecast_log.write(rows)
        status = self.forecast_log.status
        pos = int(dates.searchsorted(day))
        matured = added and any(pos + n < len(dates) for n in horizons.values())
        if matured or status != before:  # the card changes: a past as_of already matured, or the log's status
            self._schedule(u)
        if status == OK or status.startswith(REBUILT):
            self._seen.add(key)  # else (busy, unavailable) the next answer for this date tries again

    # ---- the card ------------------------------------------------------------------------------
    def champion(self, u):
        """`u.champion` with each horizon's skill extended by `live`; unchanged without a model store (no log)."""
        if u.champion is None or not self.has_store():
            return u.champion
        hit = self._cards.get(id(u))
        if hit is not None and hit[0] is u:
            return hit[1]
        epoch = self._epoch
        out = self._with_live(u)
        with self._lock:
            if epoch == self._epoch and id(u) not in self._cards:
                self._cards[id(u)] = (u, out)
        return out

    def _with_live(self, u):
        card = dict(u.champion.card or {})
        live = self._live(u)
        card["skill"] = {h: {**(s or {}), "live": live.get(h)} for h, s in (card.get("skill") or {}).items()}
        return replace(u.champion, card=card)

    def _schedule(self, u) -> None:
        """Recompute `u`'s card on the background thread (once, however many changes are queued meanwhile)."""
        with self._lock:
            if id(u) in self._queued:
                return
            self._queued.add(id(u))
            epoch = self._epoch
            if self._refresher is None:
                self._refresher = ThreadPoolExecutor(1, thread_name_prefix="live-scorecard")
        self._refresher.submit(self._refresh, u, epoch)

    def _refresh(self, u, epoch: int) -> None:
        with self._lock:
            self._queued.discard(id(u))  # a change from now on queues another refresh
        try:
            out = self._with_live(u)
        except Exception:
            log.exception("live scorecard refresh failed; the previous card stays")
            return
        with self._lock:
            if epoch == self._epoch:  # not reloaded meanwhile
                self._cards[id(u)] = (u, out)
                self._versions[id(u)] = self.version(u) + 1

    def _live(self, u) -> dict:
        """{horizon: scorecard + status} of the champion's logged forecasts in this universe."""
        from training.scorecard import live_scorecard

        fc, card = u.champion.forecaster, u.champion.card or {}
        horizons = {h: hm.sessions for h, hm in fc.horizons.items()}
        try:
            frame = self.forecast_log.read(u.dataset.universe.name, str(card.get("name")), str(card.get("version")))
            scores = live_scorecard(u.dataset, frame, horizons, self.settings.train_cfg)
        except ForecastLogError as exc:  # locked or unreadable: the live figures are hidden, never the answer
            log.warning("live scorecard unavailable: %s", exc)
            return {h: {"status": "unavailable: the forecast log cannot be read now"} for h in horizons}
        except Exception as exc:  # a bug: keep its traceback in the log, still answer
            log.error("live scorecard failed", exc_info=exc)
            return {h: {"status": "unavailable: the live scorecard could not be computed"} for h in horizons}
        return {h: {**scores[h], "status": self.forecast_log.status} for h in horizons}


def completed_by(ds, now) -> pd.Timestamp:
    """The exchange's last session whose close has passed at `now`; yesterday (UTC) for an unknown calendar."""
    from features.calendar import last_complete_session
    from features.errors import ConfigError

    try:
        return last_complete_session(ds.universe.calendar, now)
    except (ConfigError, ValueError, IndexError):
        return now.tz_convert("UTC").tz_localize(None).normalize() - pd.Timedelta(days=1)
