"""Training settings in one place: horizons, protocol, model parameters, costs, the champion metric.

Overridable from the `training:` section of the YAML given with `--config`; the model store folder
also from the environment (STORE_ENV), which wins over the YAML for training and serving alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from features.errors import ConfigError

STORE_ENV = "SECTOR_HEATMAP_STORE"  # the model store folder for `train`, `evaluate` and the server
DEFAULT_STORE_DIR = "mlruns"


def store_dir_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The store folder set by STORE_ENV (None when unset or empty): the one place that reads it."""
    env = os.environ if environ is None else environ
    return env.get(STORE_ENV) or None


@dataclass(frozen=True)
class TrainConfig:
    horizons: dict[str, int] = field(default_factory=lambda: {"1W": 5, "1M": 21, "3M": 63})
    step: int = 5  # sessions between sample dates (training rows and evaluation dates)
    first_test_year: int = 2004  # walk-forward test years start here (or later if data is short)
    min_train_years: int = 3
    embargo: int = 0  # extra sessions purged on top of the horizon between train labels and test
    objectives: tuple[str, ...] = ("regression", "rank")  # both are walk-forward tested; the best is kept
    lgbm_params: dict = field(
        default_factory=lambda: {
            "learning_rate": 0.03,
            "num_leaves": 15,
            "min_data_in_leaf": 200,
            "feature_fraction": 0.7,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 10.0,
            "max_bin": 63,
            "verbose": -1,
            "seed": 7,
            "deterministic": True,
            "num_threads": 1,  # small data: one thread is ~10x faster than two here
        }
    )
    num_boost_round: int = 150
    families: tuple[str, ...] = ("linear", "signals", "macro")  # compete with LightGBM on the same folds
    linear_alpha: float = 5000.0  # ridge penalty on standardised features (~half the rows: strong shrinkage)
    macro_window: int = 756  # sessions behind each sector's macro sensitivities (3 years)
    rank_grades: int = 5  # lambdarank relevance levels (quantiles of the neutral target per date)
    coverage: float = 0.8  # prediction interval
    top_k: int = 3
    cost_bps: float = 10.0  # per unit of turnover
    rebalance: dict[str, int] = field(default_factory=lambda: {"1W": 5, "1M": 21, "3M": 21})
    n_boot: int = 2000
    ci: float = 0.90
    primary_metric: str = "rank_ic_mean"  # compared at `primary_horizon` for the champion gate
    primary_horizon: str = "1M"
    experiment: str = "sector-heatmap"
    # live scorecard (training/scorecard.py): drift alarm when matured live interval coverage over the last
    # `live_window_weeks` is below `live_coverage_floor` (judged on at least `live_min_forecasts` forecasts), or
    # when the live rank IC's interval (needs `live_min_dates` non-overlapping periods of dates) lies below zero
    live_coverage_floor: float = 0.65
    live_window_weeks: int = 26
    live_min_forecasts: int = 22
    live_min_dates: int = 5
    # SQLite tracking/registry database + artifacts, relative to the working dir; STORE_ENV overrides it
    store_dir: str = field(default_factory=lambda: store_dir_from_env() or DEFAULT_STORE_DIR)

    def overlap(self, horizon: str) -> int:
        """How many consecutive sample dates share label days at `horizon` (sets HAC lags, bootstrap blocks)."""
        return math.ceil(self.horizons[horizon] / self.step)

    @classmethod
    def from_mapping(cls, raw: dict | None, environ: Mapping[str, str] | None = None) -> TrainConfig:
        """The `training:` section, then STORE_ENV from `environ` (default: the process environment)."""
        from features.settings import settings_from_mapping

        cfg = settings_from_mapping(
            cls,
            raw,
            "training",
            {
                "lgbm_params": lambda v: {**cls().lgbm_params, **v},
                "objectives": tuple,
                "families": tuple,
            },
        )
        if cfg.primary_horizon not in cfg.horizons:
            raise ConfigError(
                f"training config: primary_horizon {cfg.primary_horizon!r} not in horizons {list(cfg.horizons)}"
            )
        bad = set(cfg.objectives) - {"regression", "rank"}
        if bad:
            raise ConfigError(f"training config: unknown objective(s) {sorted(bad)}")
        bad = set(cfg.families) - {"linear", "signals", "macro"}
        if bad:
            raise ConfigError(f"training config: unknown model famil(ies) {sorted(bad)}")
        from_yaml = cfg.store_dir if "store_dir" in (raw or {}) else DEFAULT_STORE_DIR
        return replace(cfg, store_dir=store_dir_from_env(environ) or from_yaml)
