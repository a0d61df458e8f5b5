"""A fault sweep: every candidate call failed once, each run judged, the causes folded.

`sweep(workload, template, out)` first records a clean run of the workload
to count the calls the template matches (`fsync` on any path, say), then
re-runs the workload once per candidate with that one call failing (`@N`),
each run in a process of its own, `workers` at a time: on threads here
(`executor="local"`) or as tasks of a Dask cluster (`executor="dask"`, the
same cluster `explore --executor dask` uses: a local one of `workers`
processes, or `scheduler`). Each run keeps its trace, its log and its JSON
report in `out`; the sweep keeps a summary (`summary.json`, see
`summary`). Causes fold across runs by their id, as they fold across the
crash states of one trace. Ctrl-C stops the runs (each unmounts and ends
its workload) and keeps what was judged.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from powercut.errors import PowercutError
from powercut.faultplan import Fault
from powercut.faults.job import FaultJob, FaultRun, Judging, run_in_child
from powercut.recorder.kernel import OnKernel
from powercut.recorder.workload import Workload

EXECUTORS = ("local", "dask")


@dataclass
class Sweep:
    """What a sweep did: its clean run, one run per fault, and how long it all took."""

    workload: str
    template: Fault
    clean: FaultRun
    runs: list[FaultRun]
    seconds: float = 0.0
    executor: str = "local"
    workers: int = 1
    interrupted: bool = False

    @property
    def candidates(self) -> int:
        return self.clean.candidates


def choose(candidates: int, limit: int | None) -> list[int]:
    """The N of each fault to run: all of 1..candidates, or `limit` of them spread evenly
    (the first and the last always among them)."""
    if limit is None or limit >= candidates:
        return list(range(1, candidates + 1))
    if limit <= 1:
        return [1][:limit]
    step = (candidates - 1) / (limit - 1)
    return sorted({1 + round(i * step) for i in range(limit)})


def sweep(workload: Workload, template: Fault, out: Path, *, judging: Judging,
          timeout: float = 60.0, executor: str = "local", workers: int = 2,
          scheduler: str | None = None, limit: int | None = None,
          on_kernel: OnKernel | None = None,
          on_run: Callable[[FaultRun, int], None] | None = None) -> Sweep:
    """Sweep `template`'s calls (its `nth` is ignored) over `workload`; see the module doc.

    With `on_kernel` each run is on that kernel file system (`record --fs`): the calls failed
    are the image's block writes and flushes, and the kernel reacts to them as it does.
    `on_run(run, total)` is told of every finished run (the clean one first, total 0).
    """
    if executor not in EXECUTORS:
        raise PowercutError(f"executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if scheduler is not None and executor != "dask":
        raise PowercutError("--scheduler goes with --executor dask")
    out = out.resolve()  # the runs work elsewhere
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stop = threading.Event()
    clean_job = FaultJob(0, workload, None, out / "clean.trace", timeout, judging, template,
                         on_kernel)
    with _runner(executor, workers, scheduler) as run:
        clean_run = next(iter(list(run([clean_job], stop))), None)
        if clean_run is None or clean_run.error or clean_run.status != "complete":
            why = clean_run.error or clean_run.detail if clean_run else "interrupted"
            raise PowercutError(f"the clean run of {workload.name} did not complete: {why}")
        if on_run is not None:
            on_run(clean_run, 0)
        wanted = choose(clean_run.candidates, limit)
        jobs = [FaultJob(n, workload, replace(template, nth=n), out / f"fault-{n:03d}.trace",
                         timeout, judging, on_kernel=on_kernel) for n in wanted]
        runs: list[FaultRun] = []
        interrupted = False
        try:
            for done in run(jobs, stop):
                runs.append(done)
                if on_run is not None:
                    on_run(done, len(jobs))
        except KeyboardInterrupt:
            stop.set()
            interrupted = True
    runs.sort(key=lambda r: r.index)
    return Sweep(workload.name, template, clean_run, runs, time.monotonic() - started,
                 executor, workers, interrupted)


Runner = Callable[[list[FaultJob], threading.Event], Iterator[FaultRun]]


@contextmanager
def _runner(executor: str, workers: int, scheduler: str | None) -> Iterator[Runner]:
    """A function that runs jobs `workers` at a time and yields their runs as they finish."""
    scratch = Path(tempfile.mkdtemp(prefix="powercut-faults-"))
    try:
        if executor == "local":
            with concurrent.futures.ThreadPoolExecutor(workers, "powercut-fault") as pool:
                def local(jobs: list[FaultJob], stop: threading.Event) -> Iterator[FaultRun]:
                    futures = [pool.submit(run_in_child, job, scratch, stop) for job in jobs]
                    return _drain(futures, concurrent.futures.as_completed, stop)

                yield local
        else:
            with _dask_client(workers, scheduler, scratch) as (client, distributed):
                def on_dask(jobs: list[FaultJob], stop: threading.Event) -> Iterator[FaultRun]:
                    # A Dask task cannot be told to stop: Ctrl-C cancels the queued runs and
                    # waits for the running ones (each ends within its timeouts).
                    futures = [client.submit(run_in_child, job, scratch, pure=False)
                               for job in jobs]
                    return _drain(futures, lambda fs: distributed.as_completed(
                        fs, loop=client.loop), stop)

                yield on_dask
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _drain(futures: list[Any], as_completed: Callable[[list[Any]], Iterator[Any]],
           stop: threading.Event) -> Iterator[FaultRun]:
    """The futures' runs as they finish; on Ctrl-C, the queued ones are cancelled and the
    running ones told to stop (local runs) or waited for (Dask), so no mount outlives them."""
    try:
        for future in as_completed(futures):
            yield future.result()
    except (Exception, KeyboardInterrupt):
        stop.set()
        for future in futures:
            future.cancel()
        for future in futures:  # a second Ctrl-C must not cut this short: mounts are at stake
            with contextlib.suppress(BaseException):
                future.result()
        raise


@contextmanager
def _dask_client(workers: int, scheduler: str | None, scratch: Path
                 ) -> Iterator[tuple[Any, Any]]:
    try:
        import dask
        import distributed
    except ImportError:
        raise PowercutError("--executor dask needs dask.distributed: "
                            "pip install 'powercut[dask]'") from None
    cluster = None
    if scheduler is None:
        with dask.config.set({"temporary-directory": str(scratch)}):
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, local_directory=str(scratch),
                silence_logs=logging.ERROR)
        scheduler = str(cluster.scheduler_address)
    try:
        with distributed.Client(scheduler, set_as_default=False) as client:
            yield client, distributed
    finally:
        if cluster is not None:
            cluster.close()
