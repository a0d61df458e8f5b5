"""Checks on a Dask distributed cluster: the same exploration, the same results, more machines.

Each task is a crash state's spec: its name (crash point and lost units),
content key and the markers before it, with the `Shipment` that tells the
worker how to get the trace (streamed in chunks, or read in place where the
workers share the driver's disk; see `dask_worker`, which rebuilds and
checks the state exactly as a local thread would). Results stream back as
they finish and are stored (journal, cache) and reported by the driver, in
the same report as a local run.

Workers need powercut and the checker's program (the same binary, or the
command) installed. On an interrupt the driver cancels what is queued and
has every worker mark this exploration stopped and kill the programs its
tasks started (their threads are named after the exploration), so no check
of it outlives `shut_down`. With no scheduler address, a local cluster of
`workers` processes is started and closed with the pool.
"""

from __future__ import annotations

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
from powercut.explorer.run.dask_worker import run_check, ship, stop_checks
from powercut.explorer.run.pool import Pool
from powercut.explorer.store.verdicts import VerdictBook
from powercut.explorer.verdict import Verdict
from powercut.replayer.models.base import PersistenceModel
from powercut.replayer.state import CrashState
from powercut.trace import Op, Trace

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
            self._shipment, _ = ship(self.client, trace)
            self._checker = self.client.scatter(checker, broadcast=True, hash=False)
        except BaseException:
            self._close()
            raise
        super().__init__(checker, markers_before, nthreads, book)
        self._model = (model.name, model.page_size)
        self._running: dict[Any, CrashState] = {}
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
    def capacity(self) -> int:
        # Queued on the scheduler, a worker starts its next state without a round trip.
        return 2 * self.workers

    @property
    def running(self) -> int:
        return len(self._running)

    def submit(self, index: int, state: CrashState, *, full: bool = False) -> None:
        future = self.client.submit(
            run_check, self._shipment, self._model, self._checker, self.token,
            state.point, state.name.lost, state.key, self.markers_before(state.point),
            None if full else self.deadlines.now(),
            key=f"powercut-check-{self.token}-{index}", pure=False)
        self._running[future] = state
        self._done.add(future)

    def collect(self, timeout: float) -> list[tuple[CrashState, Verdict]]:
        if not self._running:
            return []
        deadline = time.monotonic() + timeout
        while not self._done.has_ready():
            if time.monotonic() >= deadline:
                return []
            time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        out = []
        for future in self._done.next_batch(block=False):
            state = self._running.pop(future, None)
            if state is None or self.stop.is_set():
                continue
            verdict = self._result(future)
            if verdict is None:
                continue
            self.deadlines.observe(verdict)
            self.book.add(state.key, verdict)
            self.checked += 1
            out.append((state, verdict))
        return out

    def _result(self, future: Any) -> Verdict | None:
        if future.status == "cancelled":
            return None
        try:
            return future.result()
        except PowercutError:
            raise  # a set-up error on the worker (no program there, another powercut)
        except self._distributed.KilledWorker as e:
            # Dask already moved the task to other workers; each died under it.
            return Verdict("error", signature="checker error: KilledWorker",
                           evidence={"error": str(e), "worker_died": True})

    def shut_down(self) -> None:
        self.stop.set()
        try:
            if self._running:
                self.client.cancel(list(self._running))
                # Cancelling does not stop a task already running on a worker.
                self.client.run(stop_checks, self.token)
                self._running.clear()
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
