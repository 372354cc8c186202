"""Score a registered model on dates it has never seen, with the training metrics, as its own run."""
from __future__ import annotations

import pandas as pd

from training.evaluation import evaluate_scores

MIN_UNSEEN_DATES = 10  # fewer labelled dates after training: no metric worth logging


def resolve_model_uri(name: str, model: str) -> str:
    """champion | version number | run id -> a models:/ or runs:/ URI."""
    if model == "champion":
        return f"models:/{name}@champion"
    if model.isdigit():
        return f"models:/{name}/{model}"
    return f"runs:/{model}/forecaster"


def evaluate_registered(loaded, cfg, fcfg, model: str, date_from: str, date_to: str | None = None) -> None:
    """Score `model` (champion | version | run id) on `loaded` from `date_from`, log the run, print a table."""
    import mlflow
    from rich.console import Console
    from rich.table import Table

    from features.table import build_feature_table
    from training.labels import stack_labels
    from training.registry import registered_name
    from training.store import open_store
    from training.tracking import clean_metrics, data_hash

    exp_id = open_store(cfg.store_dir, cfg.experiment, create=False)
    if exp_id is None:
        raise ValueError(f"no model store in {cfg.store_dir}/ — run `make train` first")
    name = registered_name(loaded.universe.name, loaded.market.is_demo)
    uri = resolve_model_uri(name, model)
    try:
        forecaster = mlflow.pyfunc.load_model(uri).unwrap_python_model().forecaster
    except Exception as exc:  # MlflowException for unknown versions/aliases/runs
        raise ValueError(f"cannot load model {uri}: {exc}") from None
    start = pd.Timestamp(date_from)
    trained_to = pd.Timestamp(forecaster.training_window[1])
    if start <= trained_to:  # scoring the training window would report in-sample fit as skill
        raise ValueError(f"--from {start.date()} is inside the training window of {uri} (trained on data "
                         f"through {trained_to.date()}); give a date after {trained_to.date()}")
    p = loaded.panels.upto(date_to) if date_to else loaded.panels
    table = build_feature_table(p, fcfg)  # features need the history; only dates from `start` are scored
    preds = forecaster.predict(table[table.index.get_level_values("date") >= start])
    labels = stack_labels(p, {h: m.sessions for h, m in forecaster.horizons.items()})
    console = Console()
    results, first_dates = {}, {}
    for h, hm in forecaster.horizons.items():
        # labels of the training rows reach trained_to + h sessions: score only strictly later dates
        first_unseen = p.dates[min(p.dates.searchsorted(trained_to) + hm.sessions + 1, len(p.dates) - 1)]
        lo = max(start, first_unseen)
        grid = p.dates[p.dates >= lo][:: cfg.step]
        idx = preds.index[preds.index.get_level_values("date").isin(grid)]
        frame = pd.DataFrame({"score": preds.loc[idx, f"pred_{h}"], "label": labels.loc[idx, f"label_{h}"]}).dropna()
        if frame.index.get_level_values("date").nunique() < MIN_UNSEEN_DATES:
            console.print(f"[yellow]{h}: fewer than {MIN_UNSEEN_DATES} unseen labelled dates after {lo.date()} — skipped[/]")
            continue
        fc = preds.loc[frame.index, [f"pred_{h}", f"lower_{h}", f"upper_{h}", f"prob_outperform_{h}"]]
        fc.columns = ["pred", "lower", "upper", "prob"]
        results[h], _ = evaluate_scores(frame, p.close, p.benchmark["close"], h, cfg, fc)
        first_dates[h] = lo
    if not results:
        raise ValueError(f"no unseen labelled dates: the model was trained through {trained_to.date()}; "
                         "give --from after that and data that extends beyond it")
    with mlflow.start_run(experiment_id=exp_id, run_name=f"evaluate-{name}-{model}") as run:
        mlflow.set_tags({"kind": "evaluation", "model_uri": uri, "data_source": loaded.market.source,
                         "data_hash": data_hash(loaded.market.bars), "universe": loaded.universe.name})
        for h, m in results.items():
            mlflow.log_metrics({f"{k}_{h}": v for k, v in clean_metrics(m).items()})
    t = Table(title=f"{uri} on unseen data (run {run.info.run_id})")
    for col in ("horizon", "from", "dates", "rank IC [90% CI]", "top3-bottom3", "coverage"):
        t.add_column(col)
    for h, m in results.items():
        t.add_row(h, str(first_dates[h].date()), f"{m['n_dates']:.0f}",
                  f"{m['rank_ic_mean']:+.3f} [{m['rank_ic_ci_low']:+.3f}, {m['rank_ic_ci_high']:+.3f}]",
                  f"{m['spread_mean'] * 100:+.2f}%", f"{m.get('interval_coverage', float('nan')):.2f}")
    console.print(t)
