"""Checks on a Dask distributed cluster: the same exploration, the same results, more machines.

Each task is a batch of crash states' specs: each state's name (crash point
and lost units), content key and the markers before it, with the `Shipment`
that tells the worker how to get the trace (streamed in chunks, or read in
place where the workers share the driver's disk; see `dask_worker`, which
rebuilds and checks the state exactly as a local thread would). Results
stream back as they finish and are stored (journal, cache) and reported by
the driver, in the same report as a local run.

A task costs the scheduler, the client and the worker a few milliseconds
of CPU each, on top of the check: for checks of tens of milliseconds that
is a third more work. So states go in batches sized to take about
`BATCH_SECONDS` at the median check duration seen so far (one state a
task until a check has ended, at most `MAX_BATCH`); a partial batch goes
out as soon as the driver waits for verdicts, and a full-timeout re-check
always goes alone.

Workers need powercut and the checker's program (the same binary, or the
command) installed. On an interrupt the driver cancels what is queued and
has every worker mark this exploration stopped and kill the programs its
tasks started (their threads are named after the exploration), so no check
of it outlives `shut_down`. With no scheduler address, a local cluster of
`workers` processes is started and closed with the pool.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from powercut.errors import PowercutError
from powercut.explorer.checkers import Checker
from powercut.explorer.run.dask_worker import Spec, run_checks, ship, stop_checks
from powercut.explorer.run.pool import Pool
from powercut.explorer.store.verdicts import VerdictBook
from powercut.explorer.verdict import Evidence, Verdict
from powercut.replayer.models.base import PersistenceModel
from powercut.replayer.state import CrashState
from powercut.trace import Op, Trace

BATCH_SECONDS = 0.25
MAX_BATCH = 8
CONNECT_TIMEOUT = 10.0
WORKERS_TIMEOUT = 30.0


def _dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise PowercutError("--executor dask needs dask.distributed: "
                            "pip install 'powercut[dask]'") from None
    return distributed


class DaskPool(Pool):
    """Checks states on the workers of a Dask cluster."""

    def __init__(self, checker: Checker, markers_before: Callable[[int], list[Op]],
                 trace: Trace, model: PersistenceModel, scheduler: str | None,
                 workers: int, book: VerdictBook) -> None:
        distributed = _dask()
        self._distributed = distributed
        self._cluster = None
        self._scratch: Path | None = None
        if scheduler is None:
            scheduler = self._local_cluster(distributed, workers)
        try:
            self.client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT,
                                             set_as_default=False)
        except (OSError, TimeoutError) as e:
            self._close_cluster()
            raise PowercutError(f"--scheduler {scheduler}: cannot reach a Dask scheduler ({e}); "
                                "start one with `dask scheduler` and workers with "
                                "`dask worker ADDRESS`") from None
        try:
            nthreads = self._wait_for_workers(scheduler)
            self.token = uuid.uuid4().hex[:12]
            self._tasks = itertools.count()
            self._shipment, _ = ship(self.client, trace)
            self._checker = self.client.scatter(checker, broadcast=True, hash=False)
        except BaseException:
            self._close()
            raise
        super().__init__(checker, markers_before, nthreads, book)
        self._model = (model.name, model.page_size, model.fsync_failure)
        self._running: dict[Any, list[CrashState]] = {}  # a task's states, in order
        self._states = 0  # states in running tasks
        self._batch: list[CrashState] = []  # submitted, not yet sent
        self._done = distributed.as_completed(loop=self.client.loop)

    def _local_cluster(self, distributed: Any, workers: int) -> str:
        """Start a cluster of `workers` processes here; its scratch space goes with it."""
        import dask

        self._scratch = Path(tempfile.mkdtemp(prefix="powercut-dask-"))
        try:
            with dask.config.set({"temporary-directory": str(self._scratch)}):
                self._cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, local_directory=str(self._scratch),
                    silence_logs=logging.ERROR)
        except BaseException:
            self._close_cluster()
            raise
        return str(self._cluster.scheduler_address)

    def _wait_for_workers(self, scheduler: str) -> int:
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except (OSError, TimeoutError):
            raise PowercutError(f"the Dask scheduler at {scheduler} has no worker after "
                                f"{WORKERS_TIMEOUT:g} s; start some with `dask worker "
                                f"{scheduler}`") from None
        return max(1, sum(self.client.nthreads().values()))

    @property
    def batch_size(self) -> int:
        """States a task holds: about `BATCH_SECONDS` of checks at the median seen."""
        typical = self.deadlines.typical()
        if typical is None:
            return 1
        return max(1, min(MAX_BATCH, int(BATCH_SECONDS / max(typical, 1e-3))))

    @property
    def capacity(self) -> int:
        # Two tasks a worker: queued on the scheduler, a worker starts its next batch
        # without a round trip.
        return 2 * self.workers * self.batch_size

    @property
    def running(self) -> int:
        return self._states + len(self._batch)

    def submit(self, index: int, state: CrashState, *, full: bool = False) -> None:
        if full:
            self._send([state], None)
            return
        self._batch.append(state)
        if len(self._batch) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._send(batch, self.deadlines.now())

    def _send(self, states: list[CrashState], limit: float | None) -> None:
        specs: list[Spec] = [(s.point, s.name.lost, s.content, self.markers_before(s.point))
                             for s in states]
        future = self.client.submit(
            run_checks, self._shipment, self._model, self._checker, self.token, specs, limit,
            key=f"powercut-check-{self.token}-{next(self._tasks)}", pure=False)
        self._running[future] = states
        self._states += len(states)
        self._done.add(future)

    def collect(self, timeout: float) -> list[tuple[CrashState, Verdict]]:
        self._flush()  # the driver waits: nothing more comes to fill the batch now
        if not self._running:
            return []
        deadline = time.monotonic() + timeout
        while not self._done.has_ready():
            if time.monotonic() >= deadline:
                return []
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        out = []
        for future in self._done.next_batch(block=False):
            states = self._running.pop(future, None)
            if states is None:
                continue
            self._states -= len(states)
            if self.stop.is_set():
                continue
            for state, verdict in zip(states, self._results(future, len(states)),
                                      strict=True):
                if verdict is None:
                    continue
                self.deadlines.observe(verdict)
                self.book.add(state.key, verdict)
                self.checked += 1
                out.append((state, verdict))
        return out

    def _results(self, future: Any, count: int) -> list[Verdict | None]:
        if future.status == "cancelled":
            return [None] * count
        try:
            return list(future.result())
        except PowercutError:
            raise  # a set-up error on the worker (no program there, another powercut)
        except self._distributed.KilledWorker as e:
            # Dask already moved the task to other workers; each died under it.
            return [Verdict("error", signature="checker error: KilledWorker",
                            evidence=Evidence(error=str(e), worker_died=True))] * count

    def shut_down(self) -> None:
        self.stop.set()
        self._batch.clear()
        try:
            if self._running:
                self.client.cancel(list(self._running))
                # Cancelling does not stop a task already running on a worker.
                self.client.run(stop_checks, self.token)
                self._running.clear()
                self._states = 0
        finally:
            self._close()

    def _close(self) -> None:
        try:
            self.client.close()
        finally:
            self._close_cluster()

    def _close_cluster(self) -> None:
        try:
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None
        finally:
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None
