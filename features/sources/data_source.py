"""Where market data comes from, as a value parsed once from the ``--source`` spec.

Why a value object: the source decides which registered model may serve the data (a model
trained on the synthetic demo must never serve real prices). That decision reads the typed
``synthetic`` field, never a display string, so no change of label format can break it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import pandas as pd

from features.errors import SourceError
from features.sources.demo import DemoKnobs

SPEC_KINDS = ("auto", "yfinance", "csv", "demo")  # what a user may ask for
KINDS = (*SPEC_KINDS, "cache")  # what was actually used can also be the yfinance cache
SPEC_HELP = "auto | yfinance | csv:DIR | demo[:k=v,...]"


@dataclass(frozen=True)
class DataSource:
    kind: str  # one of KINDS
    location: Path | None = None  # csv: the folder; cache: the cache folder used
    knobs: DemoKnobs | None = None  # demo only
    end: pd.Timestamp | None = None  # demo only: its last day, once generated

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SourceError(f"unknown source kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.kind == "csv" and self.location is None:
            raise SourceError("source csv needs a folder: csv:DIR")
        if (self.kind == "demo") != (self.knobs is not None):
            raise SourceError("demo knobs belong to the demo source only")

    @property
    def synthetic(self) -> bool:
        """True for the generated demo market: its models are kept apart from real-data models."""
        return self.kind == "demo"

    @property
    def name(self) -> str:
        """The kind as run names and logs show it (demo, csv, yfinance, yfinance-cache)."""
        return "yfinance-cache" if self.kind == "cache" else self.kind

    @property
    def label(self) -> str:
        """What responses, MLflow tags and banners show; for display only, never parsed back.

        A folder is named by its own name, never the server's absolute path (clients see this)."""
        if self.kind == "csv":
            assert self.location is not None
            return f"csv:{self.location.name}"
        if self.kind == "demo":
            k = self.knobs
            assert k is not None
            day = "" if self.end is None else f",end={pd.Timestamp(self.end).strftime('%Y-%m-%d')}"
            return (
                f"demo(seed={k.seed},signal={k.signal:g},sectors={k.sectors},stocks={k.stocks},years={k.years:g}{day})"
            )
        return self.name

    def __str__(self) -> str:
        return self.label

    def ended(self, day) -> DataSource:
        """The demo source with the last day it was generated to."""
        return replace(self, end=pd.Timestamp(day))

    @classmethod
    def parse(cls, spec: str | DataSource, demo_defaults: DemoKnobs | None = None) -> DataSource:
        """``auto``, ``yfinance``, ``csv:DIR`` or ``demo[:k=v,...]`` (knobs over `demo_defaults`)."""
        if isinstance(spec, DataSource):
            return spec
        if not isinstance(spec, str):
            raise SourceError(f"source: expected a spec like {SPEC_HELP}, got {type(spec).__name__}")
        kind, _, arg = spec.strip().partition(":")
        if kind not in SPEC_KINDS:
            raise SourceError(f"unknown source {spec!r}: use {SPEC_HELP}")
        if kind == "csv":
            if not arg:
                raise SourceError("source csv needs a folder: csv:DIR")
            return cls("csv", location=Path(arg).expanduser().resolve())
        if kind == "demo":
            return cls("demo", knobs=parse_demo_knobs(arg, demo_defaults or DemoKnobs()))
        if arg:
            raise SourceError(f"source {kind} takes no argument, got {spec!r}")
        return cls(kind)


def parse_demo_knobs(arg: str, defaults: DemoKnobs | None = None) -> DemoKnobs:
    """``sectors=10,stocks=200,signal=0.1`` -> DemoKnobs, with errors naming the bad knob."""
    defaults = defaults or DemoKnobs()
    types = {f.name: f.type for f in fields(DemoKnobs)}
    values: dict[str, int | float] = {}
    for item in filter(None, (p.strip() for p in arg.split(","))):
        key, eq, text = (s.strip() for s in item.partition("="))
        if key not in types:
            raise SourceError(f"demo: unknown knob {key!r} in {item!r}; knobs are {', '.join(types)}")
        if not eq or not text:
            raise SourceError(f"demo: knob {key!r} needs a value, like {key}={getattr(defaults, key)}")
        if key in values:
            raise SourceError(f"demo: knob {key!r} given twice")
        cast = int if types[key] in ("int", int) else float
        try:
            values[key] = cast(text)
        except ValueError:
            kind = "an integer" if cast is int else "a number"
            raise SourceError(f"demo: knob {key}={text!r} is not {kind}") from None
    return replace(defaults, **values)  # type: ignore[arg-type]
