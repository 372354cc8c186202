"""`sector-heatmap data` and `sector-heatmap matrix`."""

from __future__ import annotations

import argparse
import json
import sys

from features.config import FeatureConfig
from features.dataset import MarketDataset
from features.errors import RequestError
from features.settings import ConfigFile
from features.sources.data_source import SPEC_HELP


def add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default="auto", help=f"{SPEC_HELP} (default: auto)")
    p.add_argument("--universe", default="us_sectors", help="shipped universe name or a YAML path")
    add_config_option(p)


def add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="YAML file with features/training/serving sections")


def config_file(args) -> ConfigFile:
    """The --config file, read once per command (main() reads it before dispatching)."""
    cf = getattr(args, "config_file", None)
    return cf if cf is not None else ConfigFile.read(getattr(args, "config", None))


def feature_config(args) -> FeatureConfig:
    return FeatureConfig.from_mapping(config_file(args).section("features"))


def load_dataset(args, until: str | None = None, option: str = "--until") -> MarketDataset:
    """The dataset a command works on (--source, --universe, the features: settings), cut at `until`
    (bars, panels, features and data hash together) and announced."""
    import pandas as pd

    ds = MarketDataset.load(args.source, args.universe, feature_config(args))
    if until:
        try:
            day = pd.Timestamp(until)
        except ValueError:
            raise RequestError(f"{option}: {until!r} is not a date (YYYY-MM-DD)") from None
        ds = ds.upto(day)
    announce(ds)
    return ds


def announce(ds: MarketDataset, out=None) -> None:
    """Say loudly which data is in use, and every fallback taken."""
    out = out or sys.stderr
    through = ds.data_through.date() if ds.data_through is not None else "n/a"
    print(f"data source: {ds.source.label}  (through {through})", file=out)
    for note in ds.notes:
        print(f"NOTE: {note}", file=out)
    if ds.source.synthetic:
        print("NOTE: this is the embedded DEMO market (synthetic), not real prices.", file=out)


def cmd_data(args) -> int:
    ds = MarketDataset.load(args.source, args.universe, feature_config(args))
    announce(ds, sys.stdout)
    bars = ds.bars
    summary = bars.groupby("ticker")["date"].agg(["min", "max", "count"])
    print(f"universe: {ds.universe.name} ({len(ds.universe.sectors)} sectors vs {ds.universe.benchmark})")
    print(f"{len(summary)} tickers, {len(bars):,} bars")
    if len(summary) <= 60:
        for t, row in summary.iterrows():
            print(f"  {t:<10} {row['min'].date()} .. {row['max'].date()}  {row['count']:>6} bars")
    print(ds.report.to_text(limit=args.limit))
    return 0


def cmd_matrix(args) -> int:
    from features.matrix import rotation_matrix
    from features.render import matrix_csv, print_matrix

    ds = load_dataset(args)
    m = rotation_matrix(ds.panels, ds.universe, args.as_of, ds.config)
    if args.format == "json":
        print(json.dumps({"data_source": ds.source.label, **m.to_dict()}, indent=2))
    elif args.format == "csv":
        sys.stdout.write(matrix_csv(m))
    else:
        print_matrix(m, ds.source.label)
    return 0


def register(sub) -> None:
    p = sub.add_parser("data", help="fetch/refresh/validate market data and report what is there")
    add_source_options(p)
    p.add_argument("--limit", type=int, default=50, help="validation findings to print")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("matrix", help="the descriptive sector rotation matrix (relative returns per window)")
    add_source_options(p)
    p.add_argument("--as-of", default=None, help="date (YYYY-MM-DD); default: latest data")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=cmd_matrix)
