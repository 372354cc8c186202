"""The scheduled refresh of a running service: an asyncio task started in the service's lifespan.

Each refresh due by the schedule (serving/refresh.py) builds a whole new ServingState on the loader
thread (serving/live.py), off the request path, and swaps it in with one assignment (engine.swap, which
also clears the response cache: the only thing that does). Requests hold the state they started with,
so none ever waits for a refresh or sees half of one. A refresh that fails, or is not done within
refresh_deadline_s, keeps the previous state; answers then say `stale` with the reason and the data's
age, and the refresh is retried with backoff. A build past its deadline is never swapped in later.

Extra refresh steps (the news headlines, serving/news.py) plug in through `extra_steps`: callables
given the new state, run after each successful market build and before its swap (so the swap, the one
thing that clears cached answers, also brings their results in), on the loader thread, each bounded by
the same deadline; a failing step is logged and reported in GET /status, and never fails the refresh.

What the refresh did is kept in one immutable `RefreshStatus`, replaced after each attempt: /status,
/metrics (serving/status.py) and the `refresh` block of every heatmap and matrix answer read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from features.errors import SectorHeatmapError
from serving.engine import HeatmapEngine, json_bytes
from serving.freshness import data_time, mark_stale
from serving.live import LiveMarket, build_live_state, refreshes
from serving.refresh import Schedule, market_phase, next_due, retry_due
from serving.state import ServerSettings, ServingState, StateLoader
from serving.status import RefreshMetrics, iso

log = logging.getLogger("sector_heatmap.serving")
RefreshStep = Callable[[ServingState], object]  # an extra step: given the new state, before it is swapped in


@dataclass(frozen=True)
class RefreshStatus:
    started: pd.Timestamp  # when the service loaded its first state
    last_attempt: pd.Timestamp | None = None
    outcome: str = "startup"  # startup | ok | failed | timeout
    error: str | None = None  # why the last attempt failed
    duration_s: float | None = None
    last_success: pd.Timestamp | None = None  # the start-up load counts
    failures: int = 0  # consecutive
    next_due: pd.Timestamp | None = None
    steps: dict[str, str] = field(default_factory=dict)  # extra step -> ok | its error

    @property
    def stale_reason(self) -> str | None:
        if not self.failures:
            return None
        return f"the last {self.failures} refresh(es) failed, the last at {iso(self.last_attempt)}: {self.error}"


class Refresher:
    def __init__(
        self,
        settings: ServerSettings,
        engine: HeatmapEngine,
        loader: StateLoader,
        market: LiveMarket,
        lock: asyncio.Lock,
        extra_steps: dict[str, RefreshStep] | None = None,
    ) -> None:
        self.settings, self.engine, self.loader, self.market, self.lock = settings, engine, loader, market, lock
        self.enabled = refreshes(settings)
        self.schedule = Schedule.from_config(settings.cfg)
        self.deadline_s = settings.cfg.refresh_deadline_s
        self.extra_steps = dict(extra_steps or {})
        now = market.now()
        due = next_due(self.calendars, now, self.schedule) if self.enabled else None
        self.status = RefreshStatus(started=now, last_success=now, next_due=due)
        cached = [n for n, u in engine.state.universes.items() if u.dataset.source.kind == "cache"]
        if self.enabled and cached:  # started on the yfinance cache: stale until a refresh gets through
            error = f"no fresh data at start for {', '.join(cached)}: serving the yfinance cache"
            retry = retry_due(self.calendars, now, 1, self.schedule)
            self.status = replace(
                self.status, outcome="failed", error=error, failures=1, last_attempt=now, next_due=retry
            )
        self.metrics = RefreshMetrics.get()
        self._pending: asyncio.Future | None = None  # a build past its deadline, still running
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._data_times: tuple[int, dict[str, pd.Timestamp]] = (-1, {})
        self._blocks: dict[str, dict] = {}
        self.tick()

    @property
    def calendars(self) -> list[str]:
        return list(dict.fromkeys(u.dataset.universe.calendar for u in self.engine.state.universes.values()))

    # ---- the task ---------------------------------------------------------------------------
    def start(self) -> None:
        """From the service's startup hook (never at import): the loop runs on the server's event loop."""
        if self.enabled and self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="scheduled-refresh")

    async def stop(self) -> None:
        """From the shutdown hook: the loop ends at once; a build in flight finishes on its thread, unused."""
        if self._task is None:
            return
        assert self._stop is not None
        self._stop.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            now = self.market.now()
            due = self.status.next_due
            if due is not None and now >= due:
                try:
                    await self.refresh_once()
                except Exception:  # a bug: logged, and the loop keeps the schedule
                    log.exception("scheduled refresh crashed")
                due = self.status.next_due
                now = self.market.now()
            self.tick()
            wait = self.market.tick_s if due is None else min(self.market.tick_s, (due - now).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=max(wait, 0.01))

    async def refresh_once(self) -> str:
        """One refresh now: build, swap or keep, record; returns the outcome."""
        started, t0 = self.market.now(), time.perf_counter()
        new: ServingState | None = None
        trim, steps = False, {}
        if self._pending is not None and not self._pending.done():
            outcome, error = "failed", "the previous refresh is still running past its deadline"
        else:
            async with self.lock:  # never together with /reload: one swap at a time, generations in order
                fut = self.loader.submit(
                    build_live_state, self.settings, self.engine.state.generation + 1, self.market, self.engine.state
                )
                try:
                    new = await asyncio.wait_for(asyncio.shield(fut), self.deadline_s)
                    outcome, error = "ok", None
                except TimeoutError:
                    self._pending = fut
                    fut.add_done_callback(_drop_result)
                    outcome, error = "timeout", f"no new data within the {self.deadline_s:g} s refresh deadline"
                except SectorHeatmapError as exc:
                    outcome, error = "failed", str(exc)
                except Exception:
                    log.exception("refresh failed (a bug)")
                    outcome, error = "failed", "internal error while refreshing (see the server log)"
                if new is not None:
                    old = self.engine.state.universes
                    # a dataset replaced (after the close) frees a whole table: worth handing back to the OS
                    trim = any(u.dataset is not getattr(old.get(n), "dataset", None) for n, u in new.universes.items())
                    del old
                    steps = await self._extra_steps(new)  # before the swap, which shows what they stored
                    self.engine.swap(new)  # one assignment; the cache of the old state goes with it
        self._record(started, time.perf_counter() - t0, outcome, error)  # together with the swap
        if new is not None:
            del new
            self.status = replace(self.status, steps=steps)
            if trim:  # not after an in-session refresh: it frees little, and malloc_trim locks the allocator
                await self.loader.release()
        return outcome

    async def _extra_steps(self, state: ServingState) -> dict[str, str]:
        out = {}
        for name, step in self.extra_steps.items():
            fut = self.loader.submit(step, state)
            try:
                await asyncio.wait_for(asyncio.shield(fut), self.deadline_s)
                out[name] = "ok"
            except Exception as exc:  # a side refresh never fails the market's
                log.warning("refresh step %s failed: %s", name, exc)
                out[name] = f"failed: {type(exc).__name__}: {exc}"
        return out

    def _record(self, started: pd.Timestamp, seconds: float, outcome: str, error: str | None) -> None:
        ok = outcome == "ok"
        failures = 0 if ok else self.status.failures + 1
        if ok:
            due = next_due(self.calendars, started, self.schedule)
        else:
            due = retry_due(self.calendars, self.market.now(), failures, self.schedule)
            log.warning("refresh %s (%d in a row), next try %s: %s", outcome, failures, iso(due), error)
        self.status = replace(
            self.status,
            last_attempt=started,
            outcome=outcome,
            error=error,
            duration_s=round(seconds, 3),
            last_success=started if ok else self.status.last_success,
            failures=failures,
            next_due=due,
        )
        if ok:
            log.info("refreshed in %.2f s; next refresh %s", seconds, iso(due))
        self.metrics.refreshed(outcome, seconds, started)
        self.tick()

    # ---- what answers say about it ---------------------------------------------------------------
    def data_times(self) -> dict[str, pd.Timestamp]:
        """Configured universe -> when its data was last true (UTC), computed once per state."""
        state = self.engine.state
        if self._data_times[0] != state.generation:
            times = {}
            for name, u in state.universes.items():
                through = u.dataset.data_through
                if through is not None:
                    view = u.intraday
                    times[name] = data_time(through, u.dataset.universe.calendar, view.through if view else None)
            self._data_times = (state.generation, times)
        return self._data_times[1]

    def tick(self) -> None:
        """Recompute what changes with the clock, not per request: the market phase per universe, the
        blocks answers carry, the gauges."""
        now, st = self.market.now(), self.status
        blocks = {}
        for name, u in self.engine.state.universes.items():
            phase = market_phase(u.dataset.universe.calendar, now)
            view = u.intraday
            blocks[name] = {
                "enabled": self.enabled,
                "last_refresh": iso(st.last_attempt),
                "outcome": st.outcome,
                "duration_s": st.duration_s,
                "last_success": iso(st.last_success),
                "next_refresh": iso(st.next_due),
                "market_open": phase.open,
                "data_as_of": iso(self.data_times().get(name)),
                "intraday": view is not None,
                "stale": st.failures > 0,
                "stale_reason": st.stale_reason,
            }
        self._blocks = blocks
        self.metrics.observe(st, self.data_times(), now)

    def block(self, universe: str | None) -> dict:
        """The `refresh` block of an answer about `universe` (its data age as of now)."""
        try:
            name, _ = self.engine.resolve(universe)
        except SectorHeatmapError:
            name = None
        blk = self._blocks.get(name or "") or {}
        at = self.data_times().get(name or "")
        age = None if at is None else round((self.market.now() - at).total_seconds(), 1)
        return {**blk, "data_age_s": age}

    def mark(self, body: bytes, universe: str | None) -> bytes:
        """A cached answer with the live refresh block (and `stale` when the last refresh failed); as it was
        when this server does not refresh (csv, demo: nothing to report, and no age ticking in the answer)."""
        if not self.enabled:
            return body
        blk = self.block(universe)
        return mark_stale(body, json_bytes(blk), bool(blk.get("stale")))

    def mark_dict(self, answer: dict, universe: str | None) -> dict:
        """The same for an answer already parsed (the MCP heatmap tool)."""
        if not self.enabled:
            return answer
        blk = self.block(universe)
        return {**answer, "stale": bool(answer.get("stale")) or bool(blk["stale"]), "refresh": blk}

    def status_document(self) -> dict:
        """GET /status: the schedule and its last outcome, then the data age per universe."""
        st, now = self.status, self.market.now()
        times = self.data_times()
        state = self.engine.state
        return {
            "now": iso(now),
            "clock": self.market.name,
            "refresh": {
                "enabled": self.enabled,
                "interval_min": self.settings.cfg.refresh_interval_min,
                "after_close_min": self.settings.cfg.refresh_after_close_min,
                "deadline_s": self.deadline_s,
                "last_refresh": iso(st.last_attempt),
                "outcome": st.outcome,
                "error": st.error,
                "duration_s": st.duration_s,
                "last_success": iso(st.last_success),
                "consecutive_failures": st.failures,
                "next_refresh": iso(st.next_due),
                "stale": st.failures > 0,
                "stale_reason": st.stale_reason,
                "extra_steps": dict(st.steps) or {n: "not run yet" for n in self.extra_steps},
            },
            "generation": state.generation,
            "universes": {
                name: {
                    **market_phase(u.dataset.universe.calendar, now).to_dict(),
                    "data_through": None
                    if u.dataset.data_through is None
                    else u.dataset.data_through.date().isoformat(),
                    "data_as_of": iso(times.get(name)),
                    "data_age_s": None if name not in times else round((now - times[name]).total_seconds(), 1),
                    "intraday": u.intraday is not None,
                    "intraday_last_bar": None if u.intraday is None else iso(u.intraday.last_bar),
                    "data_source": u.dataset.source.label,
                }
                for name, u in state.universes.items()
            },
            "not_loaded": {name: f.reason for name, f in state.failed.items()},
        }


def _drop_result(fut: asyncio.Future) -> None:
    """A build that finished after its deadline: its state is never served; its error only logged."""
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("a refresh past its deadline ended with: %s", fut.exception())
