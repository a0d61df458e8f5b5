"""Scale out: the same exploration on a Dask cluster, against the local thread pool.

A `distributed.LocalCluster` of as many single-thread worker processes as
the largest `--workers` count is started before any clock runs; then the
bootstrap trace is explored by the local thread pool and by the cluster
with the same worker count, one after the other. The cluster must give
every state the verdict the local run gave; its wall time over the local
one is the price of the scheduler round trips and of rebuilding each state
from the trace on the worker.
"""

from __future__ import annotations

import logging
import time

from bench.context import Context
from bench.figures import Figure, Target
from powercut.explorer.run.drive import explore
from powercut.explorer.verdict import Exploration

OVERHEAD_TARGET = Target("<=", 1.25)


def _verdicts(e: Exploration) -> list[tuple[int, str, str, str]]:
    return [(j.state.point, j.state.key, j.verdict.kind, j.verdict.signature)
            for j in e.judged]


def run(ctx: Context) -> list[Figure]:
    import dask
    from distributed import LocalCluster

    workers = max(ctx.workers)
    walls: dict[str, float] = {}
    runs: dict[str, Exploration] = {}
    with dask.config.set({"temporary-directory": str(ctx.work / "dask")}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=":0", local_directory=str(ctx.work / "dask"),
                         silence_logs=logging.ERROR) as cluster, ctx.checker() as checker:
        for name in ("local", "dask"):
            started = time.monotonic()
            runs[name] = explore(ctx.trace, checker, "lazyfs", workers=workers,
                                 workdir=ctx.work, executor=name,
                                 scheduler=cluster.scheduler_address if name == "dask"
                                 else None)
            walls[name] = time.monotonic() - started
    local, dask = runs["local"], runs["dask"]
    differ = sum(a != b for a, b in zip(_verdicts(dask), _verdicts(local), strict=True))
    return [
        Figure("dask", f"wall dask / local, {workers} workers", walls["dask"] / walls["local"],
               "x", OVERHEAD_TARGET,
               f"dask {walls['dask']:.1f} s, local {walls['local']:.1f} s; "
               f"{dask.checked} states checked on the cluster"),
        Figure("dask", "verdicts unlike the local run", differ, "", Target("==", 0),
               f"{dask.enumerated} states"),
    ]
