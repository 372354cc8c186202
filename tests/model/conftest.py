"""Session caches: each demo market is generated, and each small model trained, once per session."""

from __future__ import annotations

import pytest
from model_builders import demo_loaded, small_config

from training.train import train


@pytest.fixture(scope="session")
def loaded_market():
    """loaded_market(signal, seed) -> MarketDataset (cached)."""
    cache = {}

    def get(signal: float, seed: int):
        if (signal, seed) not in cache:
            cache[signal, seed] = demo_loaded(signal, seed)
        return cache[signal, seed]

    return get


@pytest.fixture(scope="session")
def trained(loaded_market):
    """trained(signal, seed) -> TrainResult of the small config on that demo market (cached)."""
    cache = {}

    def get(signal: float, seed: int):
        if (signal, seed) not in cache:
            cache[signal, seed] = train(loaded_market(signal, seed), small_config())
        return cache[signal, seed]

    return get
