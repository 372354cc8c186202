"""`sector-heatmap sector` (one sector's drill-down) and `sector-heatmap rotation` (the rotation graph) in the
terminal or a file: the answers of POST /sector and POST /rotation, computed by the same engine functions."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from features.cli import add_source_options, announce, config_file
from features.errors import RequestError

CLI_KEY = "universe"  # the one universe a command loads, by this name in its engine


def _engine(args):
    """An engine holding the one universe the command asked for (data and champion, as `serve` loads them)."""
    from serving.engine import HeatmapEngine
    from serving.state import ServerSettings, ServingState, load_universe_state

    settings = ServerSettings.from_file(config_file(args), args.source)
    u = load_universe_state(args.universe, settings)
    announce(u.dataset)
    return HeatmapEngine(settings, ServingState({CLI_KEY: u}, 1, 0.0))


def _write(args, text: str | bytes) -> int:
    if not args.output:
        sys.stdout.write(str(text) + "\n")
        return 0
    out = Path(args.output)
    out.write_bytes(text) if isinstance(text, bytes) else out.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _print_warnings(resp: dict, console) -> None:
    """The demo-data banner and the survivorship note above a terminal answer (a sector, the rotation)."""
    from serving.render import print_survivorship

    if resp["is_demo"]:
        console.print(f"[bold white on red] DEMO DATA: a synthetic market, not real prices ({resp['data_source']}) [/]")
    print_survivorship(resp, console)


def print_sector(d: dict, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=150)
    s = d["sector"]
    _print_warnings(d, console)
    who = s["name"] if s["name"] == s["ticker"] else f"{s['name']} ({s['ticker']})"
    console.print(
        f"[bold]{who}[/] in {d['universe']}, as of {d['as_of']}, {d['timeframe']}: "
        f"return {_n(s['return_pct'])} %, {d['benchmark']} {_n(s['benchmark_return_pct'])} %, "
        f"relative {_n(s['rel_return_pp'])} pp"
    )
    b = d["breadth"]
    if b is None:
        console.print(d["note"])
        return
    above = ", ".join(f"{w}-day {_share(c['share'])} of {c['of']}" for w, c in b["above_sma"].items())
    ad, hl, conc = b["advance_decline"], b["new_highs_lows_52w"], d["concentration"]
    console.print(f"Breadth: above their averages {above}")
    console.print(
        f"Advancers {ad['up']} / decliners {ad['down']} of {ad['of']}; new 52w highs {hl['up']} / lows {hl['down']}"
    )
    console.print(f"Top {conc['top_n']} weight {_share(conc['top_weight'])} ({conc['weights']})")
    t = Table(box=box.SIMPLE_HEAD, title=f"Members, largest contribution first ({d['timeframe']})")
    for col in ("Ticker", "Weight", "Return %", "vs sector pp", f"vs {d['benchmark']} pp", "Contrib. pp"):
        t.add_column(col, justify="left" if col == "Ticker" else "right")
    for m in d["members"]:
        t.add_row(
            m["ticker"],
            _share(m["weight"]),
            _n(m["return_pct"]),
            _n(m["vs_sector_pp"]),
            _n(m["vs_benchmark_pp"]),
            _n(m["contribution_pp"]),
        )
    console.print(t)
    console.print(f"Top contributors: {', '.join(d['top_contributors'])}")
    console.print(f"Bottom contributors: {', '.join(d['bottom_contributors'])}")
    console.print(d["note"])


def print_rotation(rot: dict, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=150)
    _print_warnings(rot, console)
    t = Table(
        box=box.SIMPLE_HEAD,
        title=f"Relative rotation: {rot['universe']} vs {rot['benchmark']}, as of {rot['as_of']}",
        caption=rot["quadrant_rule"],
    )
    for col in ("Sector", "Quadrant", "RS-ratio", "RS-momentum", f"Tail ({rot['tail_weeks']} weeks, ratio/momentum)"):
        t.add_column(col, justify="left" if col in ("Sector", "Quadrant") or col.startswith("Tail") else "right")
    for tail in rot["tails"]:
        head = tail["points"][-1] if tail["points"] else None
        path = " → ".join(f"{p['rs_ratio']:.0f}/{p['rs_momentum']:.0f}" for p in tail["points"])
        t.add_row(
            f"{tail['ticker']} {tail['sector']}" if tail["ticker"] != tail["sector"] else tail["sector"],
            tail["quadrant"] or "n/a",
            "n/a" if head is None else f"{head['rs_ratio']:.2f}",
            "n/a" if head is None else f"{head['rs_momentum']:.2f}",
            path,
        )
    console.print(t)


def _n(v) -> str:
    return "n/a" if v is None else f"{v:+.2f}"


def _share(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def cmd_sector(args) -> int:
    engine = _engine(args)
    raw = {"sector": args.sector, "universe": CLI_KEY, "as_of": args.as_of, "timeframe": args.timeframe}
    d = asyncio.run(engine.sector(raw))
    if args.format == "table":
        print_sector(d)
        return 0
    if args.format == "json":
        return _write(args, json.dumps(d, indent=2, ensure_ascii=False))
    from serving.drilldown import sector_html

    return _write(args, sector_html(d))


def cmd_rotation(args) -> int:
    if args.format == "png" and not args.output:
        raise RequestError("--format: png needs --output FILE")
    engine = _engine(args)
    rot = asyncio.run(engine.rotation(CLI_KEY, args.as_of, args.tail_weeks))
    if args.format == "table":
        print_rotation(rot)
        return 0
    if args.format == "json":
        return _write(args, json.dumps(rot, indent=2, ensure_ascii=False))
    from serving.drilldown import rotation_html, rotation_png

    return _write(args, rotation_png(rot) if args.format == "png" else rotation_html(rot))


def register(sub) -> None:
    p = sub.add_parser("sector", help="one sector: breadth, concentration, members vs sector and benchmark")
    p.add_argument("sector", help="sector name or key (ETF ticker), any case")
    add_source_options(p)
    p.add_argument("--as-of", default=None, help="date (YYYY-MM-DD); default: latest data")
    p.add_argument("--timeframe", default=None, help="1D | 1W | 1M | 3M (default 1M)")
    p.add_argument("--format", choices=("table", "json", "html"), default="table")
    p.add_argument("--output", default=None, help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_sector)
    p = sub.add_parser("rotation", help="the relative rotation graph: weekly RS-ratio/RS-momentum tails, quadrants")
    add_source_options(p)
    p.add_argument("--as-of", default=None, help="date (YYYY-MM-DD); default: latest data")
    p.add_argument("--tail-weeks", type=int, default=None, help="weekly points per tail (default 8)")
    p.add_argument("--format", choices=("table", "json", "html", "png"), default="table")
    p.add_argument("--output", default=None, help="write to FILE instead of stdout (required for png)")
    p.set_defaults(func=cmd_rotation)
