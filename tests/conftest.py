"""Shared fixtures. Tests never touch the network; real data is optional."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "us_daily"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory) -> Iterator[Path]:
    """The download and headline cache of every test (and of the servers and commands they start) is a fresh
    folder, never the user's ~/.cache/sector-heatmap: the tests see what a new machine sees and write nothing
    of theirs. A test that needs its own folder sets SECTOR_HEATMAP_CACHE itself."""
    from features.sources.yahoo import CACHE_ENV

    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(folder))
        yield folder


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real yfinance dumps in ../shared/data/us_daily, or a skip with the reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA} (only in the team's workspace)")
    return SHARED_DATA
