"""`sector-heatmap scorecard`: how the forecasts served so far turned out, per model version, logged to MLflow.

Reads the forecast log beside the model store (training/forecast_log.py), joins each forecast's realised
relative return from the data (the training label), prints the live scorecard (training/scorecard.py) and
logs it to MLflow as one run per model version (a new step each time it is run).
"""

from __future__ import annotations

import json
import sys

from features.cli import add_source_options, config_file, load_dataset


def _fmt(x, pct: bool = False, signed: bool = False) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.0%}" if pct else (f"{x:+.3f}" if signed else f"{x:.3f}")


def scorecards(ds, frame, train_cfg) -> list[dict]:
    """One entry per model version in `frame` (the log of one universe): identity and scorecard per horizon."""
    from training.scorecard import horizons_logged, live_scorecard, model_versions

    out = []
    for name, version in model_versions(frame):
        sub = frame[(frame["model_name"] == name) & (frame["model_version"] == version)]
        runs = sub["run_id"].dropna().unique()
        out.append(
            {
                "name": name,
                "version": version,
                "run_id": str(runs[0]) if len(runs) else None,
                "horizons": live_scorecard(ds, sub, horizons_logged(sub), train_cfg),
            }
        )
    return out


def print_scorecards(universe: str, through: str, cards: list[dict], out=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out or sys.stdout, width=150)
    for c in cards:
        table = Table(
            title=f"Live scorecard: {c['name']} v{c['version']} on {universe}, data through {through}",
            box=box.SIMPLE_HEAD,
        )
        for col in ("horizon", "logged", "matured", "dates", "rank IC", "90% interval", "hit rate", "top-3 spread"):
            table.add_column(col, justify="right")
        table.add_column("coverage", justify="right")
        table.add_column("last 26w", justify="right")
        table.add_column("drift", justify="left")
        for h, s in c["horizons"].items():
            table.add_row(
                h,
                str(s["n_forecasts"]),
                str(s["n_matured"]),
                str(s["n_dates_matured"]),
                _fmt(s["rank_ic_mean"], signed=True),
                f"[{_fmt(s['rank_ic_ci_low'], signed=True)}, {_fmt(s['rank_ic_ci_high'], signed=True)}]",
                _fmt(s["hit_rate"], pct=True),
                _fmt(s["spread_mean"], signed=True),
                _fmt(s["interval_coverage"], pct=True),
                f"{_fmt(s['coverage_recent'], pct=True)} ({s['n_recent']})",
                "ALARM" if s["drift"] else "-",
            )
        console.print(table)
        for s in c["horizons"].values():
            console.print(s["summary"])


def cmd_scorecard(args) -> int:
    from serving.state import ServerSettings
    from training.forecast_log import ForecastLog, log_path
    from training.scorecard import log_scorecard_run

    settings = ServerSettings.from_file(config_file(args), args.source)
    tcfg = settings.train_cfg
    flog = ForecastLog(log_path(tcfg.store_dir))
    ds = load_dataset(args)  # announces the data
    frame = flog.read(universe=ds.universe.name)  # an unreadable log is one `error:` line (ForecastLogError)
    through = ds.data_through.date().isoformat() if ds.data_through is not None else "n/a"
    cards = scorecards(ds, frame, tcfg)
    if not cards:
        print(f"no forecasts of {ds.universe.name} logged yet in {flog.path}", file=sys.stderr)
    if not args.no_mlflow:
        for c in cards:
            c["mlflow_run_id"] = log_scorecard_run(
                tcfg.store_dir, tcfg.experiment, c["name"], c["version"], c["run_id"], c["horizons"], ds.data_through
            )
    if args.format == "json":
        from serving.heatmap import _plain  # NaN -> null, numpy -> plain

        print(json.dumps(_plain({"universe": ds.universe.name, "data_through": through, "models": cards})))
    else:
        print_scorecards(ds.universe.name, through, cards)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "scorecard", help="live scorecard: served forecasts joined with their outcomes, per model version (MLflow)"
    )
    add_source_options(p)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--no-mlflow", action="store_true", help="print only; do not log the scorecard to MLflow")
    p.set_defaults(func=cmd_scorecard)
