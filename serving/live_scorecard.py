"""The engine's side of the live scorecard: log what a heatmap forecast, and show how logged forecasts did.

`record` runs only where a heatmap answer is computed (a response-cache miss), at most once per
(universe, date, model version) per process, and never raises: the forecast log (training/forecast_log.py)
skips a locked file and rebuilds a corrupt one, reporting it in each horizon's `live.status`.

`champion` returns the universe's champion with its card's skill extended by `live` per horizon (the
scorecard of matured live forecasts, training/scorecard.py), so the heatmap, `/model`, the page and the MCP
tools all show the live figures beside the backtest ones, and the health score reads the drift flag there
(serving/health_score.py). It is a snapshot, computed once per loaded state (on first use after start,
/reload or a data refresh): outcomes only arrive with new data, which is a new state, so in live operation
nothing is missed; forecasts for past dates (an as_of whose outcome the data already holds) join at the next
load. Answers stay consistent with the response cache, whose entries are per state.
"""

from __future__ import annotations

import logging
import threading
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
        self._cards: dict[int, tuple] = {}  # id(universe state) -> (state, champion with live card)

    def clear(self) -> None:
        """Forget the scorecards of the old state (a reload); what was logged stays logged."""
        with self._lock:
            self._cards.clear()

    def has_store(self) -> bool:
        """Logs live beside an MLflow database: no store, no log (serving never creates a store)."""
        from training.store import DB_FILE

        return (self.store / DB_FILE).is_file()

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
        self.forecast_log.write(rows)
        if self.forecast_log.status == OK or self.forecast_log.status.startswith(REBUILT):
            self._seen.add(key)  # else (busy, unavailable) the next answer for this date tries again

    # ---- the card ------------------------------------------------------------------------------
    def champion(self, u):
        """`u.champion` with each horizon's skill extended by `live`; unchanged without a model store (no log)."""
        hit = self._cards.get(id(u))  # first: a cached card needs no look at the store (per request)
        if hit is not None and hit[0] is u:
            return hit[1]
        if u.champion is None or not self.has_store():
            return u.champion
        card = dict(u.champion.card or {})
        live = self._live(u)
        card["skill"] = {h: {**(s or {}), "live": live.get(h)} for h, s in (card.get("skill") or {}).items()}
        out = replace(u.champion, card=card)
        with self._lock:  # two first uses at once: both answer the card stored first
            hit = self._cards.get(id(u))
            if hit is not None and hit[0] is u:
                return hit[1]
            self._cards[id(u)] = (u, out)
        return out

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
