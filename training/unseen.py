"""Score a registered model on dates it has never seen, with the training metrics.

Compute only: loading the model is `load_registered`, logging is tracking.log_unseen and printing
is summary.print_unseen, as for training (train / tracking / summary).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pandas as pd

from features.dataset import MarketDataset
from features.errors import DataError, ModelError, RequestError
from training.config import TrainConfig
from training.forecaster import SectorForecaster
from training.models import BASELINES, baseline_scores
from training.scoring import evaluate_scores

MIN_UNSEEN_DATES = 10  # fewer labelled dates after training: no metric worth logging


@dataclass
class UnseenScores:
    uri: str
    model_name: str
    metrics: dict[str, dict] = field(default_factory=dict)  # horizon -> flat metrics of the model
    baselines: dict[str, dict[str, dict]] = field(default_factory=dict)  # horizon -> baseline -> flat metrics
    series: dict[str, dict[str, dict]] = field(default_factory=dict)  # horizon -> model/baseline -> plot series
    first_dates: dict[str, pd.Timestamp] = field(default_factory=dict)  # horizon -> first scored date
    skipped: dict[str, str] = field(default_factory=dict)  # horizon -> why it was not scored


def resolve_model_uri(name: str, model: str) -> str:
    """champion | version number | run id -> a models:/ or runs:/ URI."""
    if model == "champion":
        return f"models:/{name}@champion"
    if model.isdigit():
        return f"models:/{name}/{model}"
    return f"runs:/{model}/forecaster"


def load_registered(ds: MarketDataset, cfg: TrainConfig, model: str) -> tuple[str, str, SectorForecaster]:
    """(registered name, URI, forecaster) of `model` (champion | version | run id) for `ds`'s universe and source."""
    import mlflow

    from training.registry import registered_name
    from training.store import open_store

    if open_store(cfg.store_dir, cfg.experiment, create=False) is None:
        raise ModelError(
            f"no model store with experiment {cfg.experiment!r} in {cfg.store_dir}/ — run `make train` first"
        )
    name = registered_name(ds.universe.name, ds.source)
    uri = resolve_model_uri(name, model)
    try:
        forecaster = mlflow.pyfunc.load_model(uri).unwrap_python_model().forecaster
    except Exception as exc:  # MlflowException for unknown versions/aliases/runs, or a broken store
        # one line for the command line; the whole exception (SQL, traceback) only in the debug log
        logging.getLogger("sector_heatmap.training").debug("cannot load model %s", uri, exc_info=exc)
        raise ModelError(f"cannot load model {uri}: {load_failure(exc, cfg.store_dir)}") from None
    return name, uri, forecaster


def load_failure(exc: BaseException, store_dir: str) -> str:
    """One plain line saying why a model could not be loaded (MLflow's messages can carry SQL and tracebacks)."""
    from training.registry import MODEL_ARTIFACTS_MISSING, STORE_CORRUPT, failure_status, status_code

    code = status_code(failure_status(exc))
    if code == STORE_CORRUPT:
        return f"the model store in {store_dir}/ cannot be read"
    if code == MODEL_ARTIFACTS_MISSING:
        return f"its files are missing from {store_dir}/"
    text = str(getattr(exc, "message", None) or exc).strip()
    first = text.splitlines()[0].split("[SQL:")[0].strip() if text else ""
    first = first or type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def score_unseen(
    ds: MarketDataset, forecaster: SectorForecaster, cfg: TrainConfig, date_from, name: str, uri: str
) -> UnseenScores:
    """Metrics per horizon on the dates of `ds` from `date_from` whose labels start after training ended."""
    try:
        start = pd.Timestamp(date_from)
    except (TypeError, ValueError):
        raise RequestError(f"--from: {date_from!r} is not a date (YYYY-MM-DD)") from None
    trained_to = pd.Timestamp(forecaster.training_window[1])
    if start <= trained_to:  # scoring the training window would report in-sample fit as skill
        raise RequestError(
            f"--from {start.date()} is inside the training window of {uri} (trained on data "
            f"through {trained_to.date()}); give a date after {trained_to.date()}"
        )
    p = ds.panels
    table = ds.features  # features need the history; only dates from `start` are scored
    preds = forecaster.predict(table[table.index.get_level_values("date") >= start])
    labels = ds.labels({h: m.sessions for h, m in forecaster.horizons.items()})
    out = UnseenScores(uri, name)
    for h, hm in forecaster.horizons.items():
        # labels of the training rows reach trained_to + h sessions: score only strictly later dates
        first_unseen = p.dates[min(p.dates.searchsorted(trained_to) + hm.sessions + 1, len(p.dates) - 1)]
        lo = max(start, first_unseen)
        grid = p.dates[p.dates >= lo][:: cfg.step]
        idx = preds.index[preds.index.get_level_values("date").isin(grid)]
        # the model's ordering (score_H, unshrunk) is what rank IC and the rotation score; older models had pred only
        score_col = f"score_{h}" if f"score_{h}" in preds else f"pred_{h}"
        frame = pd.DataFrame({"score": preds.loc[idx, score_col], "label": labels.loc[idx, f"label_{h}"]}).dropna()
        if frame.index.get_level_values("date").nunique() < MIN_UNSEEN_DATES:
            out.skipped[h] = f"fewer than {MIN_UNSEEN_DATES} unseen labelled dates after {lo.date()}"
            continue
        fc = preds.loc[frame.index, [f"pred_{h}", f"lower_{h}", f"upper_{h}", f"prob_outperform_{h}"]]
        fc.columns = ["pred", "lower", "upper", "prob"]
        vix = table.get("vix")  # coverage per VIX tercile
        out.metrics[h], model_series = evaluate_scores(frame, ds, h, cfg, fc, vix)
        out.series[h] = {"model": model_series}
        out.baselines[h] = {}
        for b in BASELINES:  # the same dates, the same metrics: a fair comparison
            scored = frame.assign(score=baseline_scores(table.loc[frame.index], b))
            out.baselines[h][b], out.series[h][b] = evaluate_scores(scored, ds, h, cfg)
        out.first_dates[h] = lo
    if not out.metrics:
        raise DataError(
            f"no unseen labelled dates: the model was trained through {trained_to.date()}; "
            "give --from after that and data that extends beyond it"
        )
    return out
