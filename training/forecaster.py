"""The registered unit: every horizon's booster, the exact feature list, the interval calibration
and the training window travel together, so serving can never mix versions.

Predictions are forward log returns of a sector relative to the benchmark. Models learn a
cross-sectionally neutral target; the forecast shown is `shrink` x that neutral forecast plus
`offset` (the average relative return seen in training), so a model without demonstrated skill
shows the average with a wide interval. Volatility-scaled conformal residuals from the walk-forward
(out-of-sample only) give the interval and the probability of outperforming, rescaled per row by
the sector's current relative volatility.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from training.calibration import conformal_band, error_scale, zscore_by_date
from training.families import score_family

META_FILE = "forecaster.json"


@dataclass
class HorizonModel:
    sessions: int
    # "regression" (LightGBM, predicts the neutral return), "rank" (LightGBM lambdarank: a score, scaled by
    # `slope`), or a family of training.families ("linear" predicts the return; "signals", "macro": scores)
    kind: str
    booster_file: str  # "" for the families without a booster
    offset: float = 0.0  # mean relative return of the cross-section in training
    slope: float = 1.0  # rank models: return per unit of cross-sectional z-score of the score
    residuals: list[float] = field(default_factory=list)  # sorted out-of-sample residuals (conformal)
    skill: dict = field(default_factory=dict)  # out-of-sample metrics with intervals, for the model card
    params: dict = field(default_factory=dict)  # fitted parameters of a non-LightGBM family
    shrink: float = 1.0  # share of the neutral forecast shown (calibration.skill_shrink)
    scaled: bool = False  # residuals are in units of calibration.error_scale (older models: plain)

    @property
    def direct(self) -> bool:
        """Whether the raw output is already a return forecast (otherwise z-scored per date x slope)."""
        return self.kind in ("regression", "linear")

    @cached_property
    def sorted_residuals(self) -> np.ndarray:
        """`residuals` as an ascending array, built once: predict() is on the serving path."""
        return np.sort(np.asarray(self.residuals, dtype="float64"))


@dataclass
class SectorForecaster:
    feature_names: list[str]
    horizons: dict[str, HorizonModel]
    training_window: tuple[str, str]
    coverage: float = 0.8
    info: dict = field(default_factory=dict)  # universe, data source, data hash, git commit...
    _boosters: dict = field(default_factory=dict, repr=False)

    # ---- persistence -------------------------------------------------------------------
    def save(self, directory: Path, boosters: dict) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, hm in self.horizons.items():
            if hm.booster_file:
                boosters[name].save_model(str(directory / hm.booster_file))
        meta = asdict(replace(self, _boosters={}))  # asdict would deep-copy every booster
        del meta["_boosters"]
        (directory / META_FILE).write_text(json.dumps(meta, indent=1, default=str))
        self._boosters = dict(boosters)
        return directory

    @classmethod
    def load(cls, directory: Path) -> SectorForecaster:
        import lightgbm as lgb

        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        horizons = {k: HorizonModel(**v) for k, v in meta.pop("horizons").items()}
        fc = cls(horizons=horizons, **{**meta, "training_window": tuple(meta["training_window"])})
        fc._boosters = {
            k: lgb.Booster(model_file=str(directory / hm.booster_file))  # predict() asks for one thread
            for k, hm in horizons.items()
            if hm.booster_file
        }
        return fc

    # ---- prediction --------------------------------------------------------------------
    def raw_scores(self, horizon: str, X: pd.DataFrame, dates=None) -> np.ndarray:
        hm = self.horizons[horizon]
        if not hm.booster_file:
            keys = pd.Index(np.zeros(len(X))) if dates is None else dates
            return score_family(hm.kind, hm.params, X, keys)
        return self._boosters[horizon].predict(X.to_numpy(dtype="float64"), num_threads=1)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per row: pred_H, lower_H, upper_H, prob_outperform_H, rank_H, score_H for every horizon H.

        pred_H is shrunk by the measured skill; score_H (the unshrunk neutral forecast) and rank_H keep
        the model's ordering, which is what rank IC and the rotation backtest score.

        `features` is indexed by (date, sector) or by sector (one date); it must have every
        feature the models were trained on (extra columns are ignored).
        """
        missing = [c for c in self.feature_names if c not in features.columns]
        if missing:
            raise ValueError(f"features missing for the model: {missing[:10]}{'...' if len(missing) > 10 else ''}")
        X = features[self.feature_names]
        dates = (
            features.index.get_level_values("date")
            if isinstance(features.index, pd.MultiIndex)
            else pd.Index(np.zeros(len(features)))
        )
        out = pd.DataFrame(index=features.index)
        for name, hm in self.horizons.items():
            raw = pd.Series(self.raw_scores(name, X, dates), index=features.index)
            if not hm.direct:
                raw = zscore_by_date(raw, dates) * hm.slope
            pred = hm.shrink * raw.to_numpy() + hm.offset
            out[f"pred_{name}"] = pred
            if hm.sorted_residuals.size:
                scale = error_scale(features, hm.sessions, dates) if hm.scaled else None
                out[f"lower_{name}"], out[f"upper_{name}"], out[f"prob_outperform_{name}"] = conformal_band(
                    pred, hm.sorted_residuals, self.coverage, scale
                )
            out[f"score_{name}"] = raw.to_numpy()
            out[f"rank_{name}"] = raw.groupby(dates).rank(ascending=False).to_numpy()
        return out
