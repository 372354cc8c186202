"""Universes: which sectors, made of which tickers, against which benchmark (declared in YAML).

A universe YAML lists its sectors (an ETF ``ticker`` each, or ``members``), or names a
constituents CSV (``constituents: FILE.csv``, relative to the YAML) with one row per member:

    symbol,sector[,weight][,sub_industry][,name]

``symbol`` is the ticker as the price source knows it (``csv:DIR`` reads ``DIR/<symbol>.csv``),
``sector`` any sector name; ``weight`` (a market cap or any cap proxy, as of the file's date)
makes the sector cap-weighted, else members are equal-weighted. Header names are
case-insensitive; ``ticker``, ``gics_sector`` and ``gics_sub_industry`` are accepted as aliases.
"""

from __future__ import annotations

import csv
import io
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
    sub_industries: dict[str, str] | None = None  # member -> sub-industry (drill-down), when known
    member_names: dict[str, str] | None = None  # member -> company name, when known

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
    current_members_only: bool = False  # today's members only: history has survivorship bias

    @property
    def is_constituent_based(self) -> bool:
        return any(s.members for s in self.sectors)

    @property
    def member_count(self) -> int:
        """Distinct constituents (0 for an ETF universe)."""
        return len({m for s in self.sectors for m in s.members})

    @property
    def survivorship_note(self) -> str | None:
        """The warning every result over history must carry when the membership is today's only."""
        if not self.current_members_only:
            return None
        return (
            f"universe {self.name} holds today's {self.member_count} members only: members that left it are "
            "missing, so results over history carry survivorship bias (past sector returns look better than "
            "they were)"
        )

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
        folder = path.parent
        read = lambda name: (folder / name).read_text(encoding="utf-8-sig")  # noqa: E731
    else:
        if name_or_path not in available_universes():
            raise UniverseError(
                f"unknown universe {name_or_path!r}; shipped universes: {', '.join(available_universes())}"
                " (or give the path of a .yaml file)"
            )
        pkg = resources.files("features") / "universes"
        text, where = (pkg / f"{name_or_path}.yaml").read_text(), f"features/universes/{name_or_path}.yaml"
        read = lambda name: (pkg / name).read_text(encoding="utf-8-sig")  # noqa: E731
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UniverseError(f"{where}: not valid YAML: {exc}") from None
    if isinstance(raw, dict) and raw.get("constituents"):
        name = str(raw["constituents"])
        try:
            table = read(name)
        except OSError as exc:
            raise UniverseError(f"{where}: constituents file {name!r} cannot be read ({exc})") from None
        raw = {**raw, "sectors": sectors_from_constituents(table, raw.get("sectors"), f"{name} (from {where})")}
    return universe_from_mapping(raw, where)


CSV_ALIASES = {"ticker": "symbol", "gics_sector": "sector", "gics_sub_industry": "sub_industry"}


def sectors_from_constituents(text: str, declared, where: str) -> list[dict]:
    """Sector mappings (as in a universe YAML) from a constituents CSV (format: module doc).

    ``declared`` (the YAML's optional ``sectors:`` list of names with e.g. their ``gics`` code)
    fixes the order and metadata; a CSV sector it does not list, or a listed one with no member,
    is an error naming it.
    """
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise UniverseError(f"{where}: empty file (expected a header: symbol,sector[,weight][,sub_industry][,name])")
    header = [CSV_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in rows[0]]
    for need in ("symbol", "sector"):
        if need not in header:
            raise UniverseError(f"{where}: no {need!r} column in the header {rows[0]}")
    col = {h: i for i, h in reversed(list(enumerate(header)))}
    by_sector: dict[str, dict] = {}
    seen: dict[str, int] = {}
    for line, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        values = {k: cells[i].strip() for k, i in col.items() if i < len(cells)}
        cell = values.get
        symbol, sector = cell("symbol", ""), cell("sector", "")
        if not symbol or not sector:
            raise UniverseError(f"{where}:{line}: needs a symbol and a sector, got {','.join(cells)!r}")
        if symbol in seen:
            raise UniverseError(f"{where}:{line}: {symbol} is listed twice (first on line {seen[symbol]})")
        seen[symbol] = line
        s = by_sector.setdefault(sector, {"name": sector, "members": []})
        s["members"].append(symbol)
        if "weight" in col:
            try:
                weight = float(cell("weight", ""))
            except ValueError:
                weight = float("nan")
            if not weight > 0:
                given = values.get("weight", "")
                raise UniverseError(f"{where}:{line}: weight of {symbol} must be a positive number, got {given!r}")
            s.setdefault("weights", {})[symbol] = weight
        for key, field_name in (("sub_industry", "sub_industries"), ("name", "member_names")):
            if cell(key):
                s.setdefault(field_name, {})[symbol] = values[key]
    if not by_sector:
        raise UniverseError(f"{where}: no members (only a header)")
    if not declared:
        return list(by_sector.values())
    out = []
    for i, d in enumerate(declared):
        if not isinstance(d, dict) or "name" not in d:
            raise UniverseError(f"{where}: sectors[{i}] needs at least a 'name'")
        if d["name"] not in by_sector:
            raise UniverseError(f"{where}: sector {d['name']!r} is declared but has no member in the file")
        out.append({**d, **by_sector[d["name"]]})
    undeclared = sorted(set(by_sector) - {d["name"] for d in declared})
    if undeclared:
        raise UniverseError(f"{where}: sector(s) {undeclared} are not among the declared sectors")
    return out


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
        if weights and set(members) - set(weights):
            unweighted = sorted(set(members) - set(weights))[:10]
            raise UniverseError(f"{where}: sectors[{i}] ({s['name']}) has weights, but none for {unweighted}")
        sectors.append(
            Sector(
                name=str(s["name"]),
                ticker=str(ticker) if ticker else None,
                members=members,
                weights={str(k): float(v) for k, v in weights.items()} if weights else None,
                gics=str(s["gics"]) if s.get("gics") is not None else None,
                sub_industries=dict(s["sub_industries"]) if s.get("sub_industries") else None,
                member_names=dict(s["member_names"]) if s.get("member_names") else None,
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
        current_members_only=bool(raw.get("current_members_only", False)),
    )
