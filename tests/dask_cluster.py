"""A real Dask `LocalCluster` of two single-thread worker processes, for the Dask tests.

Its scratch space, the scheduler's as well as the workers', stays in the
test's own directory.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import dask
from distributed import Client, LocalCluster


@contextlib.contextmanager
def local_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with dask.config.set({"temporary-directory": str(tmp_path / "dask")}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=":0", local_directory=str(tmp_path / "dask"),
                         silence_logs=logging.ERROR) as cluster:
        yield cluster


@contextlib.contextmanager
def local_client(tmp_path: Path) -> Iterator[Client]:
    """A client of a `local_cluster` whose two workers are up."""
    with local_cluster(tmp_path) as cluster, Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2)
        yield client
