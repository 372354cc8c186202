"""Shared fixtures. Tests never touch the network; real data is optional."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "us_daily"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real yfinance dumps in ../shared/data/us_daily, or a skip with the reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA} (only in the team's workspace)")
    return SHARED_DATA
