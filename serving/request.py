"""The heatmap request: parsed and checked once, with errors that name the bad field.

Every problem raises RequestError("<field>: <what is wrong>") so the service can answer 4xx.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from features.errors import RequestError
from serving.config import ServingConfig

ALIASES = {"benchmark": "market_index"}


@dataclass(frozen=True)
class HeatmapRequest:
    universe: str = "us_sectors"
    timeframe: str = "1M"
    metrics: tuple[str, ...] = ()  # empty = all metrics
    market_index: str | None = None  # the benchmark; must be the universe's own
    as_of: pd.Timestamp | None = None  # None = latest data

    @classmethod
    def parse(cls, raw: Mapping | None = None, cfg: ServingConfig | None = None, today=None) -> HeatmapRequest:
        """From a JSON-like mapping (API body, CLI options); unknown keys are an error.

        Absent (or None) fields take the configured defaults: the first served universe, the default timeframe."""
        cfg = cfg or ServingConfig()
        if raw is not None and not isinstance(raw, Mapping):
            raise RequestError(f"request: expected an object of parameters, got {type(raw).__name__}")
        raw = {k: v for k, v in dict(raw or {}).items() if v is not None}
        for alias, name in ALIASES.items():
            if alias in raw and name in raw:
                if raw[alias] != raw[name]:
                    raise RequestError(f"{alias}: conflicts with {name}; give one of them")
                del raw[alias]
        raw = {ALIASES.get(k, k): v for k, v in raw.items()}
        unknown = set(raw) - {"universe", "timeframe", "metrics", "market_index", "as_of"}
        if unknown:
            raise RequestError(
                f"{sorted(unknown)[0]}: unknown parameter; expected universe, timeframe, metrics, "
                "market_index (or benchmark), as_of"
            )
        req = cls(
            universe=_text(raw.get("universe", cfg.universes[0]), "universe"),
            timeframe=_text(raw.get("timeframe", cfg.default_timeframe), "timeframe").upper(),
            metrics=_metrics(raw.get("metrics")),
            market_index=_text(raw["market_index"], "market_index") if "market_index" in raw else None,
            as_of=parse_date(raw.get("as_of"), "as_of"),
        )
        return req.check(cfg, today)

    def check(self, cfg: ServingConfig | None = None, today=None) -> HeatmapRequest:
        """Validate against the configured vocabulary; returns self with metrics filled and ordered."""
        cfg = cfg or ServingConfig()
        if self.timeframe not in cfg.timeframes:
            raise RequestError(f"timeframe: unknown {self.timeframe!r}; expected one of {', '.join(cfg.timeframes)}")
        bad = [m for m in self.metrics if m not in cfg.metrics]
        if bad:
            raise RequestError(f"metrics: unknown {bad[0]!r}; expected any of {', '.join(cfg.metrics)}")
        if self.as_of is not None:
            today = utc_naive(pd.Timestamp.now("UTC") if today is None else today)
            if self.as_of.normalize() > today.normalize():
                raise RequestError(f"as_of: {self.as_of.date()} is in the future (today is {today.date()})")
        asked = set(self.metrics)
        ordered = tuple(m for m in cfg.metrics if m in asked) if self.metrics else cfg.metrics
        return self if ordered == self.metrics else replace(self, metrics=ordered)


def _text(v, name: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise RequestError(f"{name}: expected a non-empty string, got {v!r}")
    return v.strip()


def _metrics(v) -> tuple[str, ...]:
    if v is None:
        return ()
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)) or not all(isinstance(m, str) for m in items):
        raise RequestError(f"metrics: expected a list of metric names, got {v!r}")
    out = tuple(dict.fromkeys(m.strip() for m in items if m.strip()))
    if not out:
        raise RequestError("metrics: empty list; leave it out for all metrics")
    return out


def parse_date(v, name: str = "as_of") -> pd.Timestamp | None:
    """A calendar date (YYYY-MM-DD, date or Timestamp) as a naive midnight Timestamp."""
    if v is None:
        return None
    if isinstance(v, str) and not v.strip():
        return None
    if not isinstance(v, (str, dt.date)):
        raise RequestError(f"{name}: expected a date string YYYY-MM-DD, got {type(v).__name__} {v!r}")
    try:
        ts = pd.Timestamp(v)
    except (ValueError, TypeError):
        raise RequestError(f"{name}: {v!r} is not a date (use YYYY-MM-DD)") from None
    if ts is pd.NaT:
        raise RequestError(f"{name}: {v!r} is not a date (use YYYY-MM-DD)")
    return utc_naive(ts).normalize()


def utc_naive(ts) -> pd.Timestamp:
    """A timestamp as naive UTC (an aware one is converted first; a naive one is taken as UTC)."""
    ts = pd.Timestamp(ts)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
