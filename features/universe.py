"""Universes: which sectors, made of which tickers, against which benchmark (declared in YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from features.errors import SectorHeatmapError

COHORTS = ("early_cycle", "late_cycle", "defensive")


class UniverseError(SectorHeatmapError, ValueError):
    """A universe file or name that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Sector:
    name: str
    ticker: str | None = None  # one series per sector (an ETF) ...
    members: tuple[str, ...] = ()  # ... or constituents aggregated into a sector series
    weights: dict[str, float] | None = None  # cap weights for members; equal weight when None
    gics: str | None = None

    @property
    def key(self) -> str:
        """Short identifier used in tables: the ETF ticker, else the sector name."""
        return self.ticker or self.name


@dataclass(frozen=True)
class Universe:
    name: str
    benchmark: str
    sectors: tuple[Sector, ...]
    calendar: str = "XNYS"
    cohorts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def is_constituent_based(self) -> bool:
        return any(s.members for s in self.sectors)

    def sector_tickers(self) -> list[str]:
        out: list[str] = []
        for s in self.sectors:
            out.extend([s.ticker] if s.ticker else s.members)
        return out

    def tickers(self) -> list[str]:
        """Every ticker the universe needs: sectors (or members), benchmark, context."""
        seen = dict.fromkeys([*self.sector_tickers(), self.benchmark, *self.context.values()])
        return list(seen)

    def cohort_of(self, sector_key: str) -> str | None:
        name = next((s.name for s in self.sectors if s.key == sector_key), sector_key)
        return next((c for c, names in self.cohorts.items() if name in names), None)


def available_universes() -> list[str]:
    pkg = resources.files("features") / "universes"
    return sorted(p.name.removesuffix(".yaml") for p in pkg.iterdir() if p.name.endswith(".yaml"))


def load_universe(name_or_path: str = "us_sectors") -> Universe:
    """Load a shipped universe by name, or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text, where = path.read_text(), str(path)
    else:
        if name_or_path not in available_universes():
            raise UniverseError(
                f"unknown universe {name_or_path!r}; shipped universes: {', '.join(available_universes())}"
                " (or give the path of a .yaml file)"
            )
        res = resources.files("features") / "universes" / f"{name_or_path}.yaml"
        text, where = res.read_text(), f"features/universes/{name_or_path}.yaml"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UniverseError(f"{where}: not valid YAML: {exc}") from None
    return universe_from_mapping(raw, where)


def universe_from_mapping(raw: dict, where: str = "<universe>") -> Universe:
    if not isinstance(raw, dict):
        raise UniverseError(f"{where}: expected a mapping at the top level")
    for key in ("name", "benchmark", "sectors"):
        if key not in raw:
            raise UniverseError(f"{where}: missing required field {key!r}")
    sectors = []
    for i, s in enumerate(raw["sectors"]):
        if not isinstance(s, dict) or "name" not in s:
            raise UniverseError(f"{where}: sectors[{i}] needs at least a 'name'")
        ticker, members = s.get("ticker"), tuple(str(m) for m in s.get("members") or ())
        if bool(ticker) == bool(members):
            raise UniverseError(f"{where}: sectors[{i}] ({s['name']}) needs exactly one of 'ticker' or 'members'")
        weights = s.get("weights")
        if weights is not None and set(weights) - set(members):
            raise UniverseError(f"{where}: sectors[{i}] ({s['name']}) has weights for non-members")
        sectors.append(
            Sector(
                name=str(s["name"]),
                ticker=str(ticker) if ticker else None,
                members=members,
                weights={str(k): float(v) for k, v in weights.items()} if weights else None,
                gics=str(s["gics"]) if s.get("gics") is not None else None,
            )
        )
    names = [s.name for s in sectors]
    if len(set(names)) != len(names):
        raise UniverseError(f"{where}: sector names must be unique")
    cohorts = {str(k): tuple(v or ()) for k, v in (raw.get("cohorts") or {}).items()}
    for c, members in cohorts.items():
        if c not in COHORTS:
            raise UniverseError(f"{where}: cohort {c!r} is not one of {COHORTS}")
        unknown = set(members) - set(names)
        if unknown:
            raise UniverseError(f"{where}: cohort {c!r} names unknown sectors {sorted(unknown)}")
    return Universe(
        name=str(raw["name"]),
        benchmark=str(raw["benchmark"]),
        sectors=tuple(sectors),
        calendar=str(raw.get("calendar", "XNYS")),
        cohorts=cohorts,
        context={str(k): str(v) for k, v in (raw.get("context") or {}).items()},
        description=str(raw.get("description", "")),
    )
