"""`sector-heatmap`: one command, a subcommand per job. Heavy imports happen inside each job."""

from __future__ import annotations

import argparse
import sys

from features import cli as features_cli
from features import universe_cli
from features.errors import SectorHeatmapError
from features.findings import DataValidationError
from features.news import cli as news_cli
from features.settings import ConfigFile
from serving import commands as serving_cli
from training import cli as training_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sector-heatmap", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (features_cli, training_cli, serving_cli, news_cli):
        module.register(sub)
    universe_cli.register(sub)  # `sector-heatmap universes`
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Errors a user can fix (SectorHeatmapError) are one line; anything else is a
    bug and keeps its traceback."""
    args = build_parser().parse_args(argv)
    try:
        args.config_file = ConfigFile.read(getattr(args, "config", None))  # the YAML, read once for the command
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SectorHeatmapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if isinstance(exc, DataValidationError):
            print(exc.report.to_text(), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
