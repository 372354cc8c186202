"""`sector-heatmap data` and `sector-heatmap matrix`."""
from __future__ import annotations

import argparse
import json
import sys

from features.config import FeatureConfig


def add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default="auto", help="auto | yfinance | csv:DIR | demo[:k=v,...] (default: auto)")
    p.add_argument("--universe", default="us_sectors", help="shipped universe name or a YAML path")
    p.add_argument("--config", default=None, help="YAML file with features/training/serving sections")


def feature_config(args) -> FeatureConfig:
    from features.settings import read_section

    return FeatureConfig.from_mapping(read_section(args.config, "features"))


def announce(loaded, out=sys.stderr) -> None:
    """Say loudly which data is in use, and every fallback taken."""
    m = loaded.market
    print(f"data source: {m.source}  (through {m.data_through.date() if m.data_through is not None else 'n/a'})", file=out)
    for note in m.notes:
        print(f"NOTE: {note}", file=out)
    if m.is_demo:
        print("NOTE: this is the embedded DEMO market (synthetic), not real prices.", file=out)


def cmd_data(args) -> int:
    from features.pipeline import load_panels

    loaded = load_panels(args.source, args.universe, feature_config(args))
    announce(loaded, sys.stdout)
    bars = loaded.market.bars
    summary = bars.groupby("ticker")["date"].agg(["min", "max", "count"])
    print(f"universe: {loaded.universe.name} ({len(loaded.universe.sectors)} sectors vs {loaded.universe.benchmark})")
    print(f"{len(summary)} tickers, {len(bars):,} bars")
    if len(summary) <= 60:
        for t, row in summary.iterrows():
            print(f"  {t:<10} {row['min'].date()} .. {row['max'].date()}  {row['count']:>6} bars")
    print(loaded.market.report.to_text(limit=args.limit))
    return 0


def cmd_matrix(args) -> int:
    from features.matrix import rotation_matrix
    from features.pipeline import load_panels
    from features.render import matrix_csv, print_matrix

    cfg = feature_config(args)
    loaded = load_panels(args.source, args.universe, cfg)
    announce(loaded)
    m = rotation_matrix(loaded.panels, loaded.universe, args.as_of, cfg)
    if args.format == "json":
        print(json.dumps({"data_source": loaded.market.source, **m.to_dict()}, indent=2))
    elif args.format == "csv":
        sys.stdout.write(matrix_csv(m))
    else:
        print_matrix(m, loaded.market.source)
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
