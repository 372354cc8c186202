"""Member aggregation past one machine: the partitions of features.members on a Dask cluster.

Selected by ``features.cluster`` (FeatureConfig): "" keeps everything in this process; "local"
starts a LocalCluster of ``cluster_workers`` for the call; anything else is the address of a
running scheduler (``tcp://host:8786``), whose workers need this package installed at the same
version (the Bento image has it). Each partition of member bars is scattered to a worker, mapped
to per-sector partial sums there, and reduced there in partition order, so only the (dates x
sectors) sums come back, and the result is bit-for-bit the in-process one (features.members).

dask/distributed are imported only when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

from features.errors import ConfigError, SourceError
from features.members import (
    MemberBlock,
    Partials,
    aggregate_in_process,
    finish,
    member_blocks,
    member_partials,
    reduce_partials,
)
from features.universe import Universe

LOCAL = "local"
CONNECT_TIMEOUT_S = 30


def aggregate_members(
    bars: pd.DataFrame, codes: np.ndarray, uniques: pd.Index, row: np.ndarray, n_dates: int, universe: Universe, cfg
) -> tuple[dict[str, np.ndarray], Partials]:
    """Sector index arrays (open..volume, members) and the reduced partials, where `cfg.cluster` says.

    ``row``: each bar's date position (-1 off the benchmark's dates), see members.date_positions."""
    if cfg.partition_members < 1:
        raise ConfigError(f"features.partition_members must be at least 1, got {cfg.partition_members}")
    blocks = member_blocks(bars, codes, uniques, row, n_dates, universe, cfg.partition_members, cfg.min_member_sessions)
    if not cfg.cluster:
        total = aggregate_in_process(blocks)
    else:
        with cluster_client(cfg.cluster, cfg.cluster_workers, cfg.cluster_processes) as client:
            total = aggregate_on_cluster(client, blocks)
    return finish(total), total


def aggregate_on_cluster(client, blocks: Iterable[MemberBlock]) -> Partials:
    """Map each partition on a worker, reduce in partition order on a worker, bring back the sums."""
    parts = []
    for block in blocks:  # scattered one at a time: the client never holds every partition's arrays twice
        [data] = client.scatter([block], hash=False)
        parts.append(client.submit(member_partials, data, pure=False))
    total = client.submit(reduce_partials, *parts, pure=False)
    return total.result()


def local_cluster(workers: int = 2, processes: bool = True, **kwargs):
    """A quiet LocalCluster of one-thread workers: no dashboard, its HTTP endpoint on a free port (never a
    warning about 8787 being taken by another cluster)."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
        **kwargs,
    )


@contextlib.contextmanager
def cluster_client(address: str, workers: int = 2, processes: bool = True) -> Iterator:
    """A distributed Client for `address` ("local": a LocalCluster started and stopped here)."""
    from distributed import Client

    if address == LOCAL:
        if workers < 1:
            raise ConfigError(f"features.cluster_workers must be at least 1, got {workers}")
        cluster = local_cluster(workers, processes)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise SourceError(f"features.cluster: cannot reach the Dask scheduler at {address!r} ({exc})") from None
    with client:
        yield client
