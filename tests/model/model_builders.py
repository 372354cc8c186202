"""Small demo markets and a small training config for the model tests (fast on 2 cores).

The demo market's truth is known: `signal=0` is a driftless random walk in relative returns,
`signal>0` plants a latent score whose oracle 21-session rank IC is `signal`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.dataset import MarketDataset
from features.sources.data_source import DataSource
from features.sources.demo import DemoKnobs, demo_market
from training.config import TrainConfig

END = "2024-06-28"  # fixed last day: the tests do not move with the calendar
YEARS = 14  # first usable 2011, first test year 2015: ~9.5 test years
HORIZON = "1M"
MODEL = "lgbm_regression"
PLANTED = 0.3  # oracle rank IC; 0.15 is too weak to show reliably in ~9 test years (see report)


def small_training(**overrides) -> dict:
    """The small training settings as a config file's `training:` section (the CLI tests write it as YAML)."""
    base = {
        "num_boost_round": 60,
        "objectives": ["regression"],
        "horizons": {HORIZON: 21},
        "first_test_year": 2000,
        "min_train_years": 3,
        "n_boot": 500,
    }
    return {**base, **overrides}


def small_config(**overrides) -> TrainConfig:
    base = small_training(
        objectives=("regression",),
        families=(),  # LightGBM only unless a test asks for the other families (tests/model/test_families.py)
    )
    base.update(overrides)
    return TrainConfig(**base)


def demo_loaded(signal: float, seed: int, years: float = YEARS, end: str = END) -> MarketDataset:
    """A dataset exactly as `--source demo:...` would build it (source included)."""
    bars, universe = demo_market(years=years, signal=signal, seed=seed, end=end)
    source = DataSource("demo", knobs=DemoKnobs(years=years, signal=signal, seed=seed)).ended(bars["date"].max())
    return MarketDataset.from_bars(bars, universe, source)


def rank_ic_by_date(frame: pd.DataFrame, score: str = "score", label: str = "label") -> pd.Series:
    """Spearman correlation per date, by hand (pandas ranks), independent of training.metrics."""
    ok = frame[[score, label]].dropna()

    def one(g: pd.DataFrame) -> float:
        return g[score].rank().corr(g[label].rank()) if len(g) >= 3 else np.nan

    return ok.groupby(level="date").apply(one).dropna()


def shuffle_within_dates(labels: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Permute every label column across sectors on each date (known values only): no signal can survive."""
    rng = np.random.default_rng(seed)

    def permute(day: pd.Series) -> pd.Series:
        values = day.to_numpy(copy=True)
        known = ~np.isnan(values)
        values[known] = rng.permutation(values[known])
        return pd.Series(values, index=day.index)

    return labels.apply(lambda col: col.groupby(level="date", group_keys=False).transform(permute))


def crown_version_1(store, experiment: str = "sector-heatmap", name: str = "sector-heatmap-us_sectors-demo") -> None:
    """Set `champion` on version 1 when the gate refused it. The gate must refuse a model that does not
    beat the best baseline, and on small demo markets the planted signal also shows in last_3m (a random
    walk's baselines win by chance half the time), so which side wins can move with the demo's end date
    (today). Tests of what comes after training need a champion; the gate itself is tested in
    test_champion.py and test_families.py."""
    from mlflow import MlflowClient

    from training.registry import CHAMPION
    from training.store import open_store

    open_store(store, experiment, create=False)
    client = MlflowClient()
    if not client.get_registered_model(name).aliases:
        client.set_registered_model_alias(name, CHAMPION, "1")
