"""Scale out: the same exploration on a Dask cluster, against the local thread pool.

The trace is `synthetic.kvstore_trace` with 260 puts (over 500 crash
points), judged by the real `examples/check_kvstore.py` through the
command checker, with defaults (the 2,000-state budget). A
`distributed.LocalCluster` of as many single-thread worker processes as
the largest `--workers` count is started before any clock runs; then the
trace is explored by the local thread pool and by the cluster with the
same worker count, one after the other. The cluster must give every state
the verdict the local run gave; its wall time over the local one is the
price of the scheduler round trips and of rebuilding each state on the
worker (replayed forward from its paused runs, see `Replays`).
"""

from __future__ import annotations

import logging
import time

from bench.context import Context
from bench.figures import Figure, Target
from bench.synthetic import KV_CHECK, kvstore_trace
from powercut.explorer.checkers import CommandChecker
from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import explore
from powercut.trace import open_trace

OVERHEAD_TARGET = Target("<=", 1.25)
PUTS = 260


def _verdicts(e: Exploration) -> list[tuple[int, str, str, str]]:
    return [(j.state.point, j.state.key, j.outcome.verdict, j.outcome.signature)
            for j in e.iter_judged()]


def run(ctx: Context) -> list[Figure]:
    import dask
    from distributed import LocalCluster

    trace = open_trace(kvstore_trace(ctx.work / "kvstore.trace", PUTS))
    workers = max(ctx.workers)
    walls: dict[str, float] = {}
    runs: dict[str, Exploration] = {}
    checker = CommandChecker(KV_CHECK, timeout=ctx.timeout)
    with dask.config.set({"temporary-directory": str(ctx.work / "dask")}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=":0", local_directory=str(ctx.work / "dask"),
                         silence_logs=logging.ERROR) as cluster:
        for name in ("local", "dask"):
            started = time.monotonic()
            runs[name] = explore(trace, checker, "lazyfs", workers=workers,
                                 workdir=ctx.work, executor=name,
                                 scheduler=cluster.scheduler_address if name == "dask"
                                 else None)
            walls[name] = time.monotonic() - started
    local, remote = runs["local"], runs["dask"]
    differ = sum(a != b for a, b in zip(_verdicts(remote), _verdicts(local), strict=True))
    figures = [
        Figure("dask", f"wall dask / local, {workers} workers, {trace.op_count} crash points",
               walls["dask"] / walls["local"], "x", OVERHEAD_TARGET,
               f"dask {walls['dask']:.1f} s, local {walls['local']:.1f} s; "
               f"{remote.checked} checks on the cluster, {local.checked} local; "
               f"{len(remote.causes)} cause(s)"),
        Figure("dask", "verdicts unlike the local run", differ, "", Target("==", 0),
               f"{remote.enumerated} states"),
    ]
    for e in runs.values():
        e.close()
    return figures
