"""`sector-heatmap heatmap` (the service's response in the terminal or a file) and `sector-heatmap serve`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from features.cli import add_config_option, add_source_options, announce, config_file
from features.errors import ConfigError, RequestError
from features.sources.data_source import SPEC_HELP

FORMATS = ("table", "json", "html", "png")
WIDE = 150


def print_heatmap(resp: dict, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from serving.render import (
        DESCRIPTIVE_TITLE,
        PREDICTED_TITLE,
        banner_text,
        print_headlines,
        print_survivorship,
        skill_lines,
        table_model,
    )

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or file: room for every column instead of the 80-column default
            console = Console(width=WIDE)
    banner = banner_text(resp)
    if banner:
        console.print(f"[bold white on red] {banner} [/]")
    print_survivorship(resp, console)
    tm = table_model(resp)
    table = Table(
        title=f"Sector heatmap: {resp['universe']} vs {resp['benchmark']}, as of {resp['as_of']} ({resp['timeframe']})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=f"source {resp['data_source']}; data through {resp['data_through']}; "
        f"desc = {DESCRIPTIVE_TITLE}; pred = {PREDICTED_TITLE}, expected relative return pp (rank)",
    )
    table.add_column("Sector", no_wrap=True)
    for label in tm.descriptive_short:
        table.add_column(f"{label}\ndesc", justify="right")
    for label in tm.predicted_short:
        table.add_column(f"{label}\npred", justify="right")
    table.add_column("Health", justify="right")
    for s, dcells, pcells, health in tm.rows:
        ranks = [(s.get("predicted") or {}).get(h, {}).get("rank") for h in tm.predicted_short]
        pred = [
            f"{c.text} ({'#' + str(r) if r else '-'})" if s.get("predicted") else c.text for c, r in zip(pcells, ranks)
        ]
        texts = [*(c.text for c in dcells), *pred, health.text]
        cells = [f"[black on {c.bg}]{t}[/]" for c, t in zip((*dcells, *pcells, health), texts)]
        table.add_row(s["ticker"], *cells)
    console.print(table)
    console.print(resp["market_context"])
    print_headlines(resp, console)
    for line in skill_lines(resp):
        console.print(line)
    console.print(f"Health: {resp['health']['predicted_note']}")


def cmd_heatmap(args) -> int:
    from serving.engine import open_news_desk
    from serving.live_scorecard import LiveScorecards
    from serving.news import heatmap_with_news
    from serving.request import HeatmapRequest
    from serving.state import ServerSettings, load_universe_state

    settings = ServerSettings.from_file(config_file(args), args.source)
    cfg = settings.cfg
    metrics = ",".join(args.metrics) if args.metrics else None  # `--metrics a,b c`: the request splits on commas
    req = HeatmapRequest.parse(
        {"universe": args.universe, "timeframe": args.timeframe, "metrics": metrics, "as_of": args.as_of}, cfg
    )
    if args.format == "png" and not args.output:
        raise RequestError("--format: png needs --output FILE")
    u = load_universe_state(args.universe, settings)  # what the service loads at start, for one universe
    announce(u.dataset)
    live = LiveScorecards(settings)  # logs the forecasts as the service does; live scorecard on the card
    desk = open_news_desk(settings)
    resp = heatmap_with_news(
        u.dataset, req, live.champion(u), u.model_status, cfg, desk, record=lambda f: live.record(u, f)
    )
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


SERVICE = "serving.service:SectorHeatmap"


def serve_command(args, environ=None) -> tuple[list[str], dict[str, str]]:
    """The `bentoml serve` command line and its environment (settings travel as SECTOR_HEATMAP_* variables)."""
    from serving.state import CONFIG_ENV, SOURCE_ENV

    env = dict(os.environ if environ is None else environ)
    env.setdefault("BENTOML_HOME", str(Path.cwd() / ".bentoml"))  # project-local, gitignored
    env["BENTOML_DO_NOT_TRACK"] = "true"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    if args.source:
        env[SOURCE_ENV] = args.source
    if args.config:
        if not Path(args.config).is_file():
            raise ConfigError(f"config file not found: {args.config}")
        env[CONFIG_ENV] = str(Path(args.config).resolve())
    from serving.auth import API_KEY_ENV, check_api_key

    check_api_key(env.get(API_KEY_ENV))  # the service refuses it at start-up too; here it is one clear line
    from serving.state import SERVE_PID_ENV

    # this process execs `bentoml serve` and so becomes BentoML's arbiter, the worker's parent: a worker that
    # cannot start signals it to stop the server instead of being restarted forever (state.abandon_start)
    env[SERVE_PID_ENV] = str(os.getpid())
    argv = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", args.host, "--port", str(args.port)]
    return argv, env


def cmd_serve(args) -> int:
    from serving.state import DEFAULT_SOURCE, SOURCE_ENV, ServerSettings, check_start

    argv, env = serve_command(args)
    # The settings and data the service will load, checked before the server starts: a server that could serve
    # nothing is one clear error here and exit code 2 (a BentoML worker that fails to start is restarted every
    # ~10 s forever; the service also stops the server then, but that cannot set this command's exit code).
    for failure in check_start(ServerSettings.from_env(env)).values():
        print(f"warning: universe {failure.name} will not be served: {failure.reason}", file=sys.stderr)
    print(
        f"serving on http://{args.host}:{args.port} (source {env.get(SOURCE_ENV, DEFAULT_SOURCE)}); "
        f"docs at /, heatmap page at /ui/heatmap",
        file=sys.stderr,
    )
    Path(env["BENTOML_HOME"]).mkdir(parents=True, exist_ok=True)
    os.execvpe(argv[0], argv, env)  # becomes the server: signals (Ctrl-C, SIGTERM) reach BentoML directly
    return 0  # not reached


def register(sub) -> None:
    p = sub.add_parser("serve", help="the HTTP service (BentoML): heatmap, matrix, model card, HTML/PNG page")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--source", default=None, help=f"{SPEC_HELP} (default: auto)")
    add_config_option(p)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("heatmap", help="sector heatmap: descriptive and predicted columns, health score, colour")
    add_source_options(p)
    p.add_argument("--as-of", default=None, help="date (YYYY-MM-DD); default: latest data")
    p.add_argument("--timeframe", default=None, help="1D | 1W | 1M | 3M (default 1M)")
    p.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        help="any of performance volume_growth momentum sentiment_score volatility predicted (default all)",
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--output", default=None, help="write to FILE instead of stdout (required for png)")
    p.set_defaults(func=cmd_heatmap)
    from serving import mcp_cli

    mcp_cli.register(sub)  # `sector-heatmap mcp`: the MCP server over stdio
    from serving import drill_cli

    drill_cli.register(sub)  # `sector-heatmap sector` and `sector-heatmap rotation`

    from serving import scorecard_cli

    scorecard_cli.register(sub)  # `sector-heatmap scorecard`: the live scorecard per model version
