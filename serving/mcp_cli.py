"""`sector-heatmap mcp`: the MCP server (serving/mcp_server.py) over stdio, as desktop MCP clients launch it.

Options and environment as for `serve`: --source (or SECTOR_HEATMAP_SOURCE, default auto), --config (or
SECTOR_HEATMAP_CONFIG), the model store from SECTOR_HEATMAP_STORE (default: the YAML's training.store_dir).
stdout carries the protocol and nothing else: logs go to stderr, and while the data and the champion load
(before the protocol starts) anything written to stdout, by Python or by a library's C code, is sent to
stderr too. Once serving, the SDK's stdio transport keeps fd 1 for itself the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping

from features.cli import add_config_option, config_file
from features.settings import ConfigFile
from features.sources.data_source import SPEC_HELP

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def mcp_settings(args, environ: Mapping[str, str] | None = None):
    """ServerSettings from the options, falling back to the environment `serve` reads (no API key: stdio
    is a private pipe to the one client that started the process)."""
    from serving.state import CONFIG_ENV, DEFAULT_SOURCE, SOURCE_ENV, ServerSettings

    env = os.environ if environ is None else environ
    config = config_file(args) if getattr(args, "config", None) else ConfigFile.read(env.get(CONFIG_ENV) or None)
    source = args.source or env.get(SOURCE_ENV) or DEFAULT_SOURCE
    return ServerSettings.from_file(config, source, environ=env)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Everything written to stdout (Python's sys.stdout and file descriptor 1) goes to stderr meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def log_to_stderr() -> None:
    """Our logs (and the SDK's) as plain lines on stderr; set before the SDK would install its own handler."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO)


def cmd_mcp(args) -> int:
    import anyio

    from serving.engine import HeatmapEngine
    from serving.mcp_server import build_mcp

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # a desktop client does not pass the Makefile's
    log_to_stderr()
    settings = mcp_settings(args)
    log = logging.getLogger("sector_heatmap.serving")
    log.info("MCP over stdio: source %s, model store %s", settings.source.label, settings.store_dir)
    with stdout_to_stderr():
        engine = HeatmapEngine(settings)  # the data and the champion, once (a SectorHeatmapError: one line, exit 2)
    server = build_mcp(engine)
    log.info("MCP server ready (load %.1f s)", engine.state.seconds)
    anyio.run(server.run_stdio_async)  # returns when the client closes stdin
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "mcp",
        help="the MCP server over stdio for AI agents (tools: get_sector_heatmap, get_market_overview, ...)",
    )
    p.add_argument("--source", default=None, help=f"{SPEC_HELP} (default: SECTOR_HEATMAP_SOURCE, else auto)")
    add_config_option(p)
    p.set_defaults(func=cmd_mcp)
