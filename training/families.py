"""The model families that compete with LightGBM on identical folds, fitted and scored from plain data.

Every family turns the feature rows of a date into a cross-sectional score; `fit_family` returns
JSON-able parameters so the registered forecaster can serve any of them without pickles:
- `linear`: ridge regression on the same features (median-imputed, standardised), neutral target;
- `signals`: an equal-weight average of per-date z-scores of documented sector signals (12-1
  momentum, trend, 52-week-high proximity, low volatility); nothing is fitted;
- `macro`: each sector's sensitivity to daily changes in the 10y yield, oil, credit (HYG/LQD),
  copper/gold and breakeven inflation (duration-hedged TIP vs TLT, features/context.py), estimated
  over the trailing `macro_window` sessions before the fold (or the final fit) ends, times the last
  month's change of each factor (the context features).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.context import breakeven
from features.momentum import HIGH_52W, MOM_12_1, trend
from features.registry import RANK_SUFFIX
from features.sectors import SectorPanels
from features.volatility import daily_log_returns, realised_vol
from training.calibration import zscore_by_date
from training.config import TrainConfig
from training.labels import neutralise

LINEAR, SIGNALS, MACRO = "linear", "signals", "macro"
FAMILIES = (LINEAR, SIGNALS, MACRO)
DIRECT = ("lgbm_regression", LINEAR)  # predict the neutral return itself; the others are z-scored x slope

# the macro model's factors (context feature names), each used when its series are in the data
MACRO_FACTORS = ("yield_10y_chg_1m", "oil_ret_1m", "credit_1m", "copper_gold_1m", "breakeven_1m")

log = logging.getLogger(__name__)

# signal column -> sign (low volatility: lower is better)
SIGNAL_COLUMNS: dict[str, float] = {MOM_12_1: 1.0, trend(200): 1.0, HIGH_52W: 1.0, realised_vol(126): -1.0}


def _daily_factors(c: pd.DataFrame) -> dict[str, pd.Series]:
    """Monthly context feature -> the same quantity over one day, from the context closes."""

    def lr(x: pd.Series) -> pd.Series:
        return daily_log_returns(x.where(x > 0))

    out: dict[str, pd.Series] = {}
    if "yield_10y" in c:
        out["yield_10y_chg_1m"] = c["yield_10y"].diff()
    if "oil" in c:
        out["oil_ret_1m"] = lr(c["oil"])
    if {"high_yield", "investment_grade"} <= set(c.columns):
        out["credit_1m"] = lr(c["high_yield"]) - lr(c["investment_grade"])
    if {"copper", "gold"} <= set(c.columns):
        out["copper_gold_1m"] = lr(c["copper"]) - lr(c["gold"])
    if {"tips", "long_treasury"} <= set(c.columns):
        out["breakeven_1m"] = breakeven(lr, c)
    return out


def sector_keys(index: pd.Index) -> np.ndarray:
    """The sector of each row, whether rows are indexed by (date, sector) or by sector."""
    return np.asarray(index.get_level_values("sector") if isinstance(index, pd.MultiIndex) else index)


def linear_columns(columns) -> list[str]:
    """The ridge's inputs: the per-date cross-sectional ranks of the sector features. Ranks are bounded
    (no outlier dominates a linear fit) and market-context columns, equal for every sector on a date,
    cannot explain a cross-sectional target; fewer columns also keep the fit fast (cost ~ p^2)."""
    return [c for c in columns if c.endswith(RANK_SUFFIX)]


def fit_linear(X: pd.DataFrame, label: pd.Series, alpha: float) -> dict:
    """Ridge on median-imputed, standardised ranks. Solved in closed form with numpy rather than
    sklearn's Ridge (same estimator): importing sklearn alone costs ~1 s of a 60 s training budget."""
    X = X[linear_columns(X.columns)]
    clean = X.astype("float64").replace([np.inf, -np.inf], np.nan)
    med = clean.median().fillna(0.0).to_numpy()  # an all-missing column (no news yet) imputes 0
    A = clean.to_numpy(dtype="float64", copy=True)
    A = np.where(np.isnan(A), med, A)
    mean, std = A.mean(axis=0), A.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    Z = (A - mean) / std
    target = neutralise(label).to_numpy()
    intercept = float(target.mean())
    coef = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (target - intercept))
    return {
        "columns": list(X.columns),
        "median": med.tolist(),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "coef": coef.tolist(),
        "intercept": intercept,
    }


def score_linear(params: dict, X: pd.DataFrame) -> np.ndarray:
    A = X[params["columns"]].to_numpy(dtype="float64", copy=True)
    A[~np.isfinite(A)] = np.nan
    A = np.where(np.isnan(A), np.asarray(params["median"]), A)
    z = (A - np.asarray(params["mean"])) / np.asarray(params["std"])
    return z @ np.asarray(params["coef"]) + params["intercept"]


def score_signals(X: pd.DataFrame, dates) -> np.ndarray:
    parts = []
    for col, sign in SIGNAL_COLUMNS.items():
        x = pd.Series(X[col].to_numpy(dtype="float64") * sign, index=X.index)
        parts.append(zscore_by_date(x, dates, fill=None).to_numpy())
    z = np.nanmean(np.vstack(parts), axis=0)  # a sector missing one signal averages the others
    return zscore_by_date(pd.Series(np.nan_to_num(z), index=X.index), dates).to_numpy()


@dataclass(frozen=True)
class MacroInputs:
    """Daily relative log returns (date x sector) and daily factor changes (date x factor), built once a run.

    `missing`: the MACRO_FACTORS the data cannot supply; the model fits on the others (no zero-filled
    stand-in, which would only add a dead regressor) and its parameters name them."""

    rel: pd.DataFrame
    factors: pd.DataFrame
    missing: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, panels: SectorPanels) -> MacroInputs:
        rel = daily_log_returns(panels.close).sub(daily_log_returns(panels.benchmark["close"]), axis=0)
        daily = _daily_factors(panels.context)
        missing = tuple(f for f in MACRO_FACTORS if f not in daily)
        if missing:
            log.warning("macro model: no context series for %s; it uses %s", ", ".join(missing), list(daily) or "none")
        return cls(rel, pd.DataFrame(daily).reindex(panels.dates), missing)


def fit_macro(inputs: MacroInputs, end: pd.Timestamp, window: int) -> dict:
    """Per sector, OLS betas of daily relative log returns on the daily factor changes up to `end`.

    A factor with too little history in the window (its ETF not yet listed) is left out of this fit
    and listed as missing, rather than emptying every sector's sample."""
    rel, factors = inputs.rel.loc[:end].tail(window), inputs.factors.loc[:end].tail(window)
    short = [f for f in factors.columns if factors[f].count() < window // 4]
    factors = factors.drop(columns=short)
    betas = {}
    for sector in rel.columns:
        both = pd.concat([rel[sector], factors], axis=1).dropna()
        if len(both) < window // 4 or factors.shape[1] == 0:
            continue
        F = both.iloc[:, 1:].to_numpy()
        y = both.iloc[:, 0].to_numpy()
        betas[str(sector)] = np.linalg.lstsq(F - F.mean(axis=0), y - y.mean(), rcond=None)[0].tolist()
    return {"factors": list(factors.columns), "betas": betas, "missing": [*inputs.missing, *short]}


def score_macro(params: dict, X: pd.DataFrame) -> np.ndarray:
    """sum_f beta(sector, f) x last month's change of f over the factors known on the date (one
    series not yet listed leaves the others' terms); 0 for sectors without betas."""
    if not params["factors"]:
        return np.zeros(len(X))
    F = X[params["factors"]].to_numpy(dtype="float64")
    n = len(params["factors"])
    B = np.array([params["betas"].get(str(s), [0.0] * n) for s in sector_keys(X.index)]).reshape(len(X), n)
    return np.nan_to_num(np.nansum(F * B, axis=1))


def required_columns(family: str) -> list[str]:
    return list(SIGNAL_COLUMNS) if family == SIGNALS else []


def fit_family(
    family: str, X: pd.DataFrame, label: pd.Series, macro: MacroInputs | None, end: pd.Timestamp, cfg: TrainConfig
) -> dict:
    if family == LINEAR:
        return fit_linear(X, label, cfg.linear_alpha)
    if family == SIGNALS:
        return {}
    if family == MACRO:
        if macro is None:
            raise ValueError("the macro family needs MacroInputs (the daily panels)")
        return fit_macro(macro, end, cfg.macro_window)
    raise ValueError(f"unknown model family {family!r}")


def score_family(family: str, params: dict, X: pd.DataFrame, dates) -> np.ndarray:
    if family == LINEAR:
        return score_linear(params, X)
    if family == SIGNALS:
        return score_signals(X, dates)
    if family == MACRO:
        return score_macro(params, X)
    raise ValueError(f"unknown model family {family!r}")


class Stopwatch:
    """Seconds spent fitting the non-LightGBM families (reported next to LightGBM's)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds += time.perf_counter() - self._t0
