"""Member aggregation on a real Dask LocalCluster equals the in-process path to the last bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import distributed
from features.config import FeatureConfig
from features.dataset import MarketDataset
from features.errors import SourceError
from features.sources.demo import demo_market

SMALL = FeatureConfig(partition_members=16)  # 4 sectors x 30 members: 8 partitions, sectors split across them


@pytest.fixture(scope="module")
def demo():
    return demo_market(sectors=4, stocks=30, years=3, seed=3, end="2024-06-28")


@pytest.fixture(scope="module")
def in_process(demo):
    bars, universe = demo
    return MarketDataset.from_bars(bars, universe, "demo", SMALL)


def checksum(frame: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(frame).to_numpy().sum())


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each: pickling and separate interpreters, as on a real cluster."""
    with distributed.local_cluster(2, processes=True) as c:
        yield c


def test_a_scheduler_address_gives_the_same_bits(demo, in_process, cluster):
    bars, universe = demo
    cfg = FeatureConfig(partition_members=16, cluster=cluster.scheduler_address)
    on_cluster = MarketDataset.from_bars(bars, universe, "demo", cfg)
    assert checksum(on_cluster.features) == checksum(in_process.features)
    assert on_cluster.features.equals(in_process.features)
    for field in ("open", "high", "low", "close", "volume", "members"):
        assert getattr(on_cluster.panels, field).equals(getattr(in_process.panels, field)), field
    assert on_cluster.panels.membership == in_process.panels.membership


def test_local_cluster_from_configuration_gives_the_same_bits(demo, in_process):
    bars, universe = demo
    cfg = FeatureConfig(partition_members=16, cluster="local", cluster_workers=2, cluster_processes=False)
    assert checksum(MarketDataset.from_bars(bars, universe, "demo", cfg).features) == checksum(in_process.features)


def test_the_partition_size_is_the_unit_of_work_not_the_answer(demo, in_process):
    bars, universe = demo
    other = MarketDataset.from_bars(bars, universe, "demo", FeatureConfig(partition_members=7)).panels.close
    np.testing.assert_allclose(other.to_numpy(), in_process.panels.close.to_numpy(), rtol=1e-12, equal_nan=True)


def test_an_unreachable_scheduler_is_one_clear_error(demo, monkeypatch):
    bars, universe = demo
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(SourceError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        MarketDataset.from_bars(bars, universe, "demo", FeatureConfig(cluster="tcp://127.0.0.1:9"))
