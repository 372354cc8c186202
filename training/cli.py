"""`sector-heatmap train` and `sector-heatmap evaluate`."""

from __future__ import annotations

import sys
import time

from features.cli import add_source_options, config_file, load_dataset
from training.config import TrainConfig


def train_config(args) -> TrainConfig:
    return TrainConfig.from_mapping(config_file(args).section("training"))


def cmd_train(args) -> int:
    from rich.progress import Progress

    from training.summary import print_summary
    from training.tracking import log_and_register
    from training.train import train

    t0 = time.perf_counter()
    cfg = train_config(args)
    ds = load_dataset(args, args.until)
    with Progress(transient=True) as bar:
        task = bar.add_task("walk-forward folds", total=None)
        result = train(ds, cfg, progress=lambda: bar.advance(task))
    logged = None if args.no_mlflow else log_and_register(result)
    print_summary(result, logged)
    print(news_status(ds, args), file=sys.stderr)
    total = time.perf_counter() - t0
    print(
        f"total {total:.1f}s; LightGBM fitting {result.clock.seconds:.1f}s "
        f"(ratio {total / max(result.clock.seconds, 1e-9):.2f})",
        file=sys.stderr,
    )
    return 0


def news_status(ds, args) -> str:
    """Whether headline sentiment could be a feature yet (it is never zero-filled: features/news)."""
    from features.cli import feature_config
    from features.news.aggregates import news_feature_status
    from features.sources.yahoo import default_cache_dir

    return news_feature_status(ds.universe.name, default_cache_dir(), feature_config(args).news)


def cmd_evaluate(args) -> int:
    from training.summary import print_unseen
    from training.tracking import log_unseen
    from training.unseen import load_registered, score_unseen

    cfg = train_config(args)
    ds = load_dataset(args, args.date_to, "--to")  # what is scored is what the logged data hash describes
    name, uri, forecaster = load_registered(ds, cfg, args.model)
    scores = score_unseen(ds, forecaster, cfg, args.date_from, name, uri)
    print_unseen(scores, log_unseen(scores, ds, cfg, args.model))
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
