"""`sector-heatmap train` and `sector-heatmap evaluate`."""
from __future__ import annotations

import sys
import time

from features.cli import add_source_options, announce, feature_config


def train_config(args):
    from features.settings import read_section
    from training.config import TrainConfig

    return TrainConfig.from_mapping(read_section(args.config, "training"))


def load_for_training(args, until: str | None = None):
    """(training config, feature config, loaded market), announced; `until` cuts the data first."""
    import pandas as pd

    from features.pipeline import load_panels

    cfg, fcfg = train_config(args), feature_config(args)
    loaded = load_panels(args.source, args.universe, fcfg)
    if until:  # cut the bars too, so data_hash / data_through tags describe what was used
        try:
            day = pd.Timestamp(until)
        except ValueError:
            raise ValueError(f"--until {until!r} is not a date (YYYY-MM-DD)") from None
        loaded.panels = loaded.panels.upto(day)
        loaded.market.bars = loaded.market.bars[loaded.market.bars["date"] <= day].reset_index(drop=True)
    announce(loaded)
    return cfg, fcfg, loaded


def cmd_train(args) -> int:
    from rich.progress import Progress

    from training.summary import print_summary
    from training.tracking import log_and_register
    from training.train import train

    t0 = time.perf_counter()
    cfg, fcfg, loaded = load_for_training(args, args.until)
    with Progress(transient=True) as bar:
        task = bar.add_task("walk-forward folds", total=None)
        result = train(loaded, cfg, fcfg, progress=lambda: bar.advance(task))
    logged = None if args.no_mlflow else log_and_register(result, cfg.store_dir)
    print_summary(result, logged)
    total = time.perf_counter() - t0
    print(f"total {total:.1f}s; LightGBM fitting {result.clock.seconds:.1f}s "
          f"(ratio {total / max(result.clock.seconds, 1e-9):.2f})", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from training.evaluate import evaluate_registered

    cfg, fcfg, loaded = load_for_training(args)
    evaluate_registered(loaded, cfg, fcfg, args.model, args.date_from, args.date_to)
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="walk-forward LightGBM per horizon, log to MLflow, champion gate")
    add_source_options(p)
    p.add_argument("--until", default=None, help="use data up to this date only (YYYY-MM-DD)")
    p.add_argument("--no-mlflow", action="store_true", help="compute and print only; log nothing")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("evaluate", help="score a registered model on data it has never seen")
    add_source_options(p)
    p.add_argument("--model", default="champion", help="champion | a version number | RUN_ID")
    p.add_argument("--from", dest="date_from", required=True, help="first date to score (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", default=None, help="last date to score (default: latest labelled)")
    p.set_defaults(func=cmd_evaluate)
