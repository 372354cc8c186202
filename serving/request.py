"""The heatmap request: parsed and checked once, with errors that name the bad field.

Every problem raises RequestError("<field>: <what is wrong>") so the service can answer 4xx.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from features.errors import RequestError
from serving.config import ServingConfig
from serving.http_errors import EXCERPT_CHARS, excerpt, field_name

ALIASES = {"benchmark": "market_index"}
MIN_DATE = dt.date(1900, 1, 1)  # earliest as_of accepted (the data starts later anyway); the latest is today
MAX_DATE = pd.Timestamp.max.date()  # past this no Timestamp can hold it; "in the future" says the rest
DATE_RANGE = f"from {MIN_DATE.isoformat()} to today"
_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_AND_MORE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}.")  # a date followed by a time, a zone or anything


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
                f"{field_name(sorted(unknown)[0])}: unknown parameter; expected universe, timeframe, metrics, "
                "market_index (or benchmark), as_of"
            )
        req = cls(
            # the configured default may be a YAML path of any length; only what a client sends is bounded
            universe=parse_name(raw["universe"], "universe") if "universe" in raw else cfg.universes[0],
            timeframe=parse_name(raw.get("timeframe", cfg.default_timeframe), "timeframe").upper(),
            metrics=_metrics(raw.get("metrics")),
            market_index=parse_name(raw["market_index"], "market_index") if "market_index" in raw else None,
            as_of=parse_date(raw.get("as_of"), "as_of"),
        )
        return req.check(cfg, today)

    def check(self, cfg: ServingConfig | None = None, today=None) -> HeatmapRequest:
        """Validate against the configured vocabulary; returns self with metrics filled and ordered."""
        cfg = cfg or ServingConfig()
        if self.timeframe not in cfg.timeframes:
            raise RequestError(
                f"timeframe: unknown {excerpt(self.timeframe)}; expected one of {', '.join(cfg.timeframes)}"
            )
        bad = [m for m in self.metrics if m not in cfg.metrics]
        if bad:
            raise RequestError(f"metrics: unknown {excerpt(bad[0])}; expected any of {', '.join(cfg.metrics)}")
        if self.as_of is not None:
            today = utc_naive(pd.Timestamp.now("UTC") if today is None else today)
            if self.as_of.normalize() > today.normalize():
                raise RequestError(
                    f"as_of: {self.as_of.date()} is in the future; use a date {DATE_RANGE} ({today.date()})"
                )
        asked = set(self.metrics)
        ordered = tuple(m for m in cfg.metrics if m in asked) if self.metrics else cfg.metrics
        return self if ordered == self.metrics else replace(self, metrics=ordered)


def parse_name(v, name: str) -> str:
    """A non-empty name (universe, timeframe, benchmark): at most EXCERPT_CHARS long, so quoting it back is safe."""
    if not isinstance(v, str) or not v.strip():
        raise RequestError(f"{name}: expected a non-empty string, got {excerpt(v)}")
    if len(v.strip()) > EXCERPT_CHARS:
        raise RequestError(f"{name}: expected a name of at most {EXCERPT_CHARS} characters, got {excerpt(v)}")
    return v.strip()


def parse_names(v, name: str) -> tuple[str, ...] | None:
    """An optional list of names (or one comma-separated string), deduplicated in order; None when absent."""
    if v is None:
        return None
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)) or not all(isinstance(m, str) for m in items):
        raise RequestError(f"{name}: expected a list of names, got {excerpt(v)}")
    out = tuple(dict.fromkeys(m.strip() for m in items if m.strip()))
    if not out:
        raise RequestError(f"{name}: empty list; leave it out for all")
    return out


def _metrics(v) -> tuple[str, ...]:
    return parse_names(v, "metrics") or ()


def parse_date(v, name: str = "as_of") -> pd.Timestamp | None:
    """A calendar date (a string YYYY-MM-DD, or a date) as a naive midnight Timestamp; None for absent or empty.

    The shape is checked before anything parses the text: constant work for any input, whatever its length
    (pandas' parser is quadratic in it). Only a plain date is a date here: a time or a time zone is refused,
    never silently moved to another day. Every refusal names the field and the accepted range."""
    if v is None:
        return None
    if isinstance(v, dt.datetime):  # a datetime (or Timestamp) is a date only at a naive midnight
        if v.tzinfo is not None or v.time() != dt.time(0):
            raise RequestError(f"{name}: expected a plain date YYYY-MM-DD without a time or time zone, got {v}")
        v = v.date()
    elif isinstance(v, str):
        text = v.strip()
        if not text:
            return None
        if _DATE_AND_MORE.match(text):
            raise RequestError(
                f"{name}: expected a plain date YYYY-MM-DD without a time or time zone ({DATE_RANGE}), "
                f"got {excerpt(text)}"
            )
        if len(text) != 10 or not _DATE_SHAPE.fullmatch(text):
            raise RequestError(f"{name}: expected a date YYYY-MM-DD {DATE_RANGE}, got {excerpt(text)}")
        try:
            v = dt.date.fromisoformat(text)
        except ValueError:
            raise RequestError(f"{name}: {text} is not a calendar date; use a date {DATE_RANGE}") from None
    elif not isinstance(v, dt.date):
        raise RequestError(f"{name}: expected a date string YYYY-MM-DD, got {type(v).__name__} {excerpt(v)}")
    if not MIN_DATE <= v <= MAX_DATE:  # (a date after today but within this is refused by check())
        raise RequestError(f"{name}: {v.isoformat()} is out of range; use a date {DATE_RANGE}")
    return pd.Timestamp(v.isoformat())


def utc_naive(ts) -> pd.Timestamp:
    """A timestamp as naive UTC (an aware one is converted first; a naive one is taken as UTC)."""
    ts = pd.Timestamp(ts)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
