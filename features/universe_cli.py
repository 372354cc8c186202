"""`sector-heatmap universes [PATH ...]`: the universes the product ships (and any YAML given by path),
each with its benchmark, its sectors and its member count."""

from __future__ import annotations

import json

from features.universe import Universe, available_universes, load_universe


def describe(u: Universe, where: str) -> dict:
    """One universe as the command shows it (JSON-ready)."""
    return {
        "name": u.name,
        "where": where,
        "description": u.description,
        "benchmark": u.benchmark,
        "calendar": u.calendar,
        "members": u.member_count,
        "current_members_only": u.current_members_only,
        "sectors": [
            {
                "name": s.name,
                "key": s.key,
                "ticker": s.ticker,
                "members": len(s.members),
                "weighting": None if s.ticker else ("cap" if s.weights else "equal"),
            }
            for s in u.sectors
        ],
    }


def cmd_universes(args) -> int:
    found = [describe(load_universe(n), f"shipped ({n})") for n in available_universes()]
    found += [describe(load_universe(p), p) for p in args.paths]
    if args.format == "json":
        print(json.dumps(found, indent=2))
        return 0
    for u in found:
        kind = f"{u['members']} members" if u["members"] else "one ETF per sector"
        print(f"{u['name']}: {len(u['sectors'])} sectors vs {u['benchmark']} ({u['calendar']}), {kind}  [{u['where']}]")
        if u["description"]:
            print(f"  {u['description']}")
        if u["current_members_only"]:
            print("  today's members only: results over history carry survivorship bias")
        for s in u["sectors"]:
            what = s["ticker"] if s["ticker"] else f"{s['members']} members, {s['weighting']} weight"
            print(f"    {s['name']:<28} {what}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("universes", help="the shipped universes (and any given by path): benchmark, sectors, members")
    p.add_argument("paths", nargs="*", help="universe YAML files to describe too")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_universes)
