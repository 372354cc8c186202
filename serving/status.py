"""The scheduled refresh in Prometheus: gauges and a counter on BentoML's own /metrics.

BentoML 1.4 serves /metrics from prometheus_client in multiprocess mode: its worker sets
PROMETHEUS_MULTIPROC_DIR during start-up, after the service module is imported, and `bentoml.metrics`
is deprecated in favour of prometheus_client itself. So the metrics are created on first use (inside
the service's __init__, never at import), once per process (a second registration of a name raises),
and the gauges use the `livemostrecent` mode: the value last set by a live worker.

Ages are exported as timestamps too (`..._timestamp_seconds`), the Prometheus way (`time() - x`); the
age gauges are updated at every scheduler tick.
"""

from __future__ import annotations

import functools

import pandas as pd

PREFIX = "sector_heatmap_refresh"


def iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else pd.Timestamp(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


class RefreshMetrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        mode = {"multiprocess_mode": "livemostrecent"}
        self.last = Gauge(f"{PREFIX}_last_timestamp_seconds", "start of the last refresh attempt (Unix time)", **mode)  # type: ignore[arg-type]
        self.duration = Gauge(f"{PREFIX}_last_duration_seconds", "duration of the last refresh attempt", **mode)  # type: ignore[arg-type]
        self.ok = Gauge(f"{PREFIX}_last_success", "1 when the last refresh succeeded, else 0", **mode)  # type: ignore[arg-type]
        self.failures = Gauge(f"{PREFIX}_consecutive_failures", "refreshes failed in a row", **mode)  # type: ignore[arg-type]
        self.next = Gauge(f"{PREFIX}_next_timestamp_seconds", "when the next refresh is due (Unix time)", **mode)  # type: ignore[arg-type]
        self.total = Counter(f"{PREFIX}_total", "refresh attempts by outcome", ["outcome"])
        self.data_at = Gauge(
            "sector_heatmap_data_timestamp_seconds",
            "when each universe's data was last true: close or last intraday bar",
            ["universe"],
            **mode,  # type: ignore[arg-type]
        )
        self.data_age = Gauge(
            "sector_heatmap_data_age_seconds",
            "age of each universe's data",
            ["universe"],
            **mode,  # type: ignore[arg-type]
        )

    @staticmethod
    @functools.cache
    def get() -> RefreshMetrics:
        """The one instance of this process."""
        return RefreshMetrics()

    def refreshed(self, outcome: str, seconds: float, started: pd.Timestamp) -> None:
        self.total.labels(outcome=outcome).inc()
        self.last.set(started.timestamp())
        self.duration.set(seconds)
        self.ok.set(1.0 if outcome == "ok" else 0.0)

    def observe(self, status, data_times: dict[str, pd.Timestamp], now: pd.Timestamp) -> None:
        self.failures.set(status.failures)
        if status.next_due is not None:
            self.next.set(status.next_due.timestamp())
        for name, at in data_times.items():
            self.data_at.labels(universe=name).set(at.timestamp())
            self.data_age.labels(universe=name).set((now - at).total_seconds())
