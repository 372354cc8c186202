"""LightGBM fitting (regression and lambdarank on the neutral target) and the baseline scores."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from features.momentum import MOM_12_1, rel_return
from training.config import TrainConfig
from training.labels import neutralise, rank_grades

# baselines: name -> feature column used as the score ("zero" predicts no difference at all)
BASELINES: dict[str, str | None] = {"mom_12_1": MOM_12_1, "last_3m": rel_return("3M"), "zero": None}


@dataclass
class FitClock:
    """Wall time spent inside LightGBM fitting, to report total-time / fit-time."""

    seconds: float = 0.0
    fits: int = 0
    per_kind: dict = field(default_factory=dict)

    def add(self, kind: str, dt: float) -> None:
        self.seconds += dt
        self.fits += 1
        self.per_kind[kind] = self.per_kind.get(kind, 0.0) + dt


def fit_booster(X: pd.DataFrame, label: pd.Series, kind: str, cfg: TrainConfig, clock: FitClock | None = None):
    """Fit one booster on rows sorted by date. `label` is the relative return; it is neutralised here."""
    import lightgbm as lgb

    target = neutralise(label)
    params = dict(cfg.lgbm_params)
    if kind == "rank":
        grades = rank_grades(target, cfg.rank_grades).to_numpy()
        sizes = target.groupby(level="date", sort=False).size().to_numpy()
        params.update(
            objective="lambdarank", label_gain=list(range(cfg.rank_grades)), lambdarank_truncation_level=cfg.top_k
        )
        data = lgb.Dataset(X.to_numpy(dtype="float32"), grades, group=sizes, params={"max_bin": params["max_bin"]})
    elif kind == "regression":
        params.update(objective="regression")
        data = lgb.Dataset(X.to_numpy(dtype="float32"), target.to_numpy(), params={"max_bin": params["max_bin"]})
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    t0 = time.perf_counter()
    booster = lgb.train(params, data, num_boost_round=cfg.num_boost_round)
    if clock is not None:
        clock.add(kind, time.perf_counter() - t0)
    return booster


def baseline_scores(features: pd.DataFrame, name: str) -> pd.Series:
    col = BASELINES[name]
    if col is None:
        return pd.Series(0.0, index=features.index)
    return features[col]
