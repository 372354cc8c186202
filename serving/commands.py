"""`sector-heatmap heatmap`: the same response the service returns, in the terminal or as a file."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from features.cli import add_source_options, announce, feature_config

FORMATS = ("table", "json", "html", "png")
WIDE = 150


def serving_config(args):
    from features.settings import read_section
    from serving.config import ServingConfig

    return ServingConfig.from_mapping(read_section(args.config, "serving"))


def champion_for(loaded) -> tuple[object | None, str]:
    """The registered champion, or (None, why not): a missing or broken registry means descriptive only."""
    try:
        from training.registry import load_champion

        return load_champion(loaded.universe.name, loaded.market.is_demo)
    except Exception as exc:  # noqa: BLE001 - any failure here degrades, it never stops the heatmap
        detail = f": {exc}" if str(exc) else ""
        return None, f"unavailable: could not load the champion ({type(exc).__name__}{detail})"


def print_heatmap(resp: dict, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from serving.render import DESCRIPTIVE_TITLE, PREDICTED_TITLE, banner_text, skill_lines, table_model

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or file: room for every column instead of the 80-column default
            console = Console(width=WIDE)
    banner = banner_text(resp)
    if banner:
        console.print(f"[bold white on red] {banner} [/]")
    tm = table_model(resp)
    table = Table(title=f"Sector heatmap: {resp['universe']} vs {resp['benchmark']}, as of {resp['as_of']} "
                        f"({resp['timeframe']})", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption=f"source {resp['data_source']}; data through {resp['data_through']}; "
                          f"desc = {DESCRIPTIVE_TITLE}; pred = {PREDICTED_TITLE}, expected relative return pp (rank)")
    table.add_column("Sector", no_wrap=True)
    for label in tm.descriptive_short:
        table.add_column(f"{label}\ndesc", justify="right")
    for label in tm.predicted_short:
        table.add_column(f"{label}\npred", justify="right")
    table.add_column("Health", justify="right")
    for s, dcells, pcells, health in tm.rows:
        ranks = [(s.get("predicted") or {}).get(h, {}).get("rank") for h in tm.predicted_short]
        pred = [f"{c.text} ({'#' + str(r) if r else '-'})" if s.get("predicted") else c.text for c, r in zip(pcells, ranks)]
        texts = [*(c.text for c in dcells), *pred, health.text]
        cells = [f"[black on {c.bg}]{t}[/]" for c, t in zip((*dcells, *pcells, health), texts)]
        table.add_row(s["ticker"], *cells)
    console.print(table)
    console.print(resp["market_context"])
    for line in skill_lines(resp):
        console.print(line)
    console.print(f"Health: {resp['health']['predicted_note']}")


def cmd_heatmap(args) -> int:
    from features.pipeline import load_panels
    from features.table import build_feature_table
    from serving.heatmap import build_heatmap
    from serving.request import HeatmapRequest

    cfg, fcfg = serving_config(args), feature_config(args)
    metrics = [m for item in args.metrics for m in item.split(",")] if args.metrics else None
    req = HeatmapRequest.parse({"universe": args.universe, "timeframe": args.timeframe, "metrics": metrics,
                                "as_of": args.as_of}, cfg)
    if args.format == "png" and not args.output:
        raise ValueError("--format png needs --output FILE")
    loaded = load_panels(args.source, args.universe, fcfg)
    announce(loaded)
    champion, status = champion_for(loaded)
    resp = build_heatmap(loaded, build_feature_table(loaded.panels, fcfg), req, champion, status, cfg, fcfg)
    if args.format == "table":
        print_heatmap(resp)
        return 0
    if args.format == "png":
        from serving.render import heatmap_png

        Path(args.output).write_bytes(heatmap_png(resp))
    else:
        from serving.render import heatmap_html

        text = json.dumps(resp, indent=2, ensure_ascii=False) if args.format == "json" else heatmap_html(resp)
        if not args.output:
            sys.stdout.write(text + "\n")
            return 0
        Path(args.output).write_text(text, encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("heatmap", help="sector heatmap: descriptive and predicted columns, health score, colour")
    add_source_options(p)
    p.add_argument("--as-of", default=None, help="date (YYYY-MM-DD); default: latest data")
    p.add_argument("--timeframe", default=None, help="1D | 1W | 1M | 3M (default 1M)")
    p.add_argument("--metrics", nargs="+", default=None,
                   help="any of performance volume_growth momentum sentiment_score volatility predicted (default all)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--output", default=None, help="write to FILE instead of stdout (required for png)")
    p.set_defaults(func=cmd_heatmap)
