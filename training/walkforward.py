"""Run one horizon through the purged walk-forward: every model family and baseline on the same folds.

Out-of-sample rows carry, per model, a score, its return forecast (shrunk by the model's skill as
measured on earlier folds) and an interval whose slope, shrinkage and volatility-scaled residuals
come only from EARLIER folds' out-of-sample rows whose labels had ended before the test year
began (purged like the training rows), so coverage and calibration are measured honestly too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.momentum import rel_return
from features.sectors import SectorPanels
from training.calibration import calibrate_slope, conformal_band, error_scale, skill_shrink, zscore_by_date
from training.config import TrainConfig
from training.families import DIRECT, MACRO, MacroInputs, Stopwatch, fit_family, score_family
from training.folds import Fold, walk_forward_folds
from training.labels import mean_relative_return, neutralise
from training.metrics import ic_by_date, newey_west_tstat
from training.models import BASELINES, FitClock, baseline_scores, fit_booster

USABLE = rel_return("12M")  # a row is used once its sector has a year of history
MIN_TRAIN_ROWS = 50  # a fold with fewer labelled training rows is skipped
MIN_SKILL_DATES = 26  # fewer earlier out-of-sample dates: no skill measured yet, the forecast shows 0
# earlier test years whose residuals an interval needs: one year is one regime (on the real dumps the
# 1M intervals calibrated on 2004 alone covered 69% in 2005; every later year, with 2+ years, 74%+)
MIN_CALIBRATION_YEARS = 2


def candidates(cfg: TrainConfig) -> list[str]:
    """Every model that may be kept, in the order used to break ties (LightGBM first)."""
    return [*(f"lgbm_{k}" for k in cfg.objectives), *cfg.families]


@dataclass
class WalkForward:
    horizon: str
    folds: list[Fold]
    oos: pd.DataFrame  # (date, sector): label, fold, offset, scale, score/neutral/pred/lower/upper/prob_<model>
    feature_names: list[str]
    rank_ic: dict[str, pd.Series] = field(default_factory=dict)  # model -> out-of-sample rank IC per date
    selection: dict[int, str] = field(default_factory=dict)  # test year -> model chosen on earlier folds

    def scores(self, model: str) -> pd.DataFrame:
        return self.oos[[f"score_{model}", "label"]].rename(columns={f"score_{model}": "score"})


def sample_rows(table: pd.DataFrame, dates: pd.DatetimeIndex, step: int) -> pd.DataFrame:
    """Rows on every `step`-th session (weekly by default) with a year of history."""
    grid = dates[::step]
    rows = table[table.index.get_level_values("date").isin(grid)]
    return rows[rows[USABLE].notna()]


def shrink_from(past_ic: np.ndarray | None, overlap: int) -> float:
    """The skill shrinkage measured on earlier out-of-sample rank ICs (0 before there are enough)."""
    if past_ic is None or len(past_ic) < MIN_SKILL_DATES:
        return 0.0
    return skill_shrink(newey_west_tstat(past_ic, overlap))


class _Pool:
    """Values of earlier folds with their dates, kept as numpy arrays (filtered once per fold, cheaply)."""

    def __init__(self) -> None:
        self.dates: list[np.ndarray] = []
        self.values: list[np.ndarray] = []

    def add(self, dates, values) -> None:
        self.dates.append(np.asarray(dates, dtype="datetime64[ns]"))
        self.values.append(np.asarray(values, dtype="float64"))

    def upto(self, cutoff: pd.Timestamp, min_folds: int = 1) -> np.ndarray | None:
        """The values dated <= cutoff (labels ended), in time order; None if they come from fewer than
        `min_folds` earlier folds."""
        end = np.datetime64(cutoff, "ns")
        if sum(bool((d <= end).any()) for d in self.dates) < min_folds:
            return None
        d, v = np.concatenate(self.dates), np.concatenate(self.values)
        kept = v[d <= end]
        return kept if kept.size else None


class _Calibration:
    """Per model, what earlier folds teach: rank-score slope, skill (rank IC per date), scaled residuals."""

    def __init__(self) -> None:
        self.z, self.neutral, self.ic, self.residuals = _Pool(), _Pool(), _Pool(), _Pool()
        self.ic_series: list[pd.Series] = []


def run_walk_forward(
    table: pd.DataFrame,
    label: pd.Series,
    dates: pd.DatetimeIndex,
    horizon: str,
    cfg: TrainConfig,
    clock: FitClock | None = None,
    progress=None,
    panels: SectorPanels | None = None,
    other_clock: Stopwatch | None = None,
    macro: MacroInputs | None = None,
) -> WalkForward:
    h = cfg.horizons[horizon]
    overlap = cfg.overlap(horizon)
    rows = sample_rows(table, dates, cfg.step)
    features = list(table.columns)
    y = label.reindex(rows.index)
    labelled = y.notna().to_numpy()
    first_usable = rows.index.get_level_values("date").min()
    folds = walk_forward_folds(dates, h, cfg.first_test_year, cfg.min_train_years, first_usable, cfg.embargo)
    row_dates = rows.index.get_level_values("date")
    models = [m for m in candidates(cfg) if m != MACRO or panels is not None]
    if macro is None and MACRO in models and panels is not None:  # train() passes the run's, built once
        macro = MacroInputs.of(panels)
    cal = {m: _Calibration() for m in models}
    watch = other_clock or Stopwatch()
    pieces = []
    for fold in folds:
        train = (row_dates <= fold.train_end) & labelled
        test = (row_dates >= fold.test_start) & (row_dates <= fold.test_end) & labelled
        if not test.any() or train.sum() < MIN_TRAIN_ROWS:
            continue
        Xtr, ytr, Xte = rows[train], y[train], rows[test]
        te_dates = Xte.index.get_level_values("date")
        offset = mean_relative_return(ytr)
        out = pd.DataFrame({"label": y[test], "fold": fold.test_year, "offset": offset}, index=Xte.index)
        out["scale"] = error_scale(Xte, h)
        for name in BASELINES:
            out[f"score_{name}"] = baseline_scores(Xte, name)
        for model in models:
            if model.startswith("lgbm_"):
                booster = fit_booster(Xtr[features], ytr, model.removeprefix("lgbm_"), cfg, clock)
                raw = booster.predict(Xte[features].to_numpy(dtype="float32"))
            else:
                with watch:
                    params = fit_family(model, Xtr[features], ytr, macro, fold.train_end, cfg)
                    raw = score_family(model, params, Xte[features], te_dates)
            score = pd.Series(raw, index=Xte.index)
            c = cal[model]
            if model in DIRECT:
                neutral = score
            else:  # a score without a return scale: z-score x slope fitted on earlier folds
                past_z, past_n = c.z.upto(fold.train_end), c.neutral.upto(fold.train_end)
                slope = calibrate_slope(pd.Series(past_z), pd.Series(past_n)) if past_z is not None else 0.0
                z = zscore_by_date(score)
                c.z.add(te_dates, z)
                c.neutral.add(te_dates, neutralise(out["label"]))
                neutral = z * slope
            pred = shrink_from(c.ic.upto(fold.train_end), overlap) * neutral + offset
            out[f"score_{model}"], out[f"neutral_{model}"], out[f"pred_{model}"] = score, neutral, pred
            known = c.residuals.upto(fold.train_end, MIN_CALIBRATION_YEARS)
            if known is not None:
                band = conformal_band(pred, np.sort(known[np.isfinite(known)]), cfg.coverage, out["scale"])
                for key, values in zip(("lower", "upper", "prob"), band, strict=True):
                    out[f"{key}_{model}"] = values
            c.residuals.add(te_dates, (out["label"] - pred) / out["scale"])
            ic = ic_by_date(pd.DataFrame({"score": score, "label": out["label"]}))
            c.ic.add(ic.index, ic)
            c.ic_series.append(ic)
        pieces.append(out)
        if progress is not None:
            progress()
    oos = pd.concat(pieces) if pieces else pd.DataFrame()
    rank_ic = {m: pd.concat(c.ic_series) if c.ic_series else pd.Series(dtype="float64") for m, c in cal.items()}
    wf = WalkForward(horizon, folds, oos, features, rank_ic)
    if not oos.empty:
        from training.selection import select_nested

        select_nested(wf, models)
    return wf
