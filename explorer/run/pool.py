"""Where crash states are checked: one state's check, and the pools that run many at once.

`check_state` is the unit of work wherever it runs: write one state to a
fresh directory (through the worker's `Staging` when it has one: only what
differs from its last state; see `stages`), run the checker on it, remove
the directory, and retry once when the check itself broke (the checker
raised, or something the checker did not send SIGKILLed its program),
since that says nothing about the state. `Pool` is the driver's view of a pool: submit states,
collect verdicts, shut down; each verdict goes to the `VerdictBook`
(journal first, durably, then the results cache) before the driver may
report it. `ThreadPool` runs checks in threads of this process; the Dask
pool (`dask_pool`) runs the same `check_state` on a cluster.

Threads, on purpose: the work happens in child processes (the program under
test, the user's command) that a thread only waits on; materialising a state is mostly file
I/O. Threads share the checker and its port pool, need no pickling of
images, and let an interrupt kill every child at once. A pool must never
leave a process or a directory behind once `shut_down` returns.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import errno
import itertools
import shutil
import signal
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from powercut import namespaces, process
from powercut.errors import DiskFull, PowercutError
from powercut.explorer.checkers import Checker
from powercut.explorer.checkers.base import deadline
from powercut.explorer.checkers.errors import error_verdict
from powercut.explorer.run.hangs import Deadlines, mark
from powercut.explorer.run.stages import Stages
from powercut.explorer.store.verdicts import VerdictBook
from powercut.explorer.verdict import Verdict
from powercut.replayer.materialise import materialise
from powercut.replayer.state import CrashState
from powercut.trace import Op

ATTEMPTS = 2  # a state whose worker dies is checked once more before it is an `error`
POLL = 0.1
FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # a full disk: the exploration pauses
_pools = itertools.count()


def check_state(checker: Checker, state: CrashState, markers: list[Op], work: Path,
                stopped: Callable[[], bool] = lambda: False,
                limit: float | None = None, stages: Stages | None = None) -> Verdict | None:
    """Judge `state` (its image attached) in a directory `work` it makes and removes, giving
    the program `limit` seconds (None: the checker's timeout) before a hang is suspected.
    With `stages`, the state is written through the calling thread's staging.

    Returns None when `stopped()` turns true (an interrupted exploration).
    """
    first: Verdict | None = None
    try:
        with deadline(limit):
            for attempt in range(ATTEMPTS):
                verdict = _check_once(checker, state, markers, work / f"try-{attempt}",
                                      stopped, stages)
                if verdict is None or stopped():
                    return None
                if not _worker_died(verdict):
                    return mark(verdict, limit, checker.timeout)
                first = first or verdict
            return _died_twice(first or verdict, verdict)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_once(checker: Checker, state: CrashState, markers: list[Op], work: Path,
                stopped: Callable[[], bool], stages: Stages | None) -> Verdict | None:
    target = work / "root"
    try:
        try:
            work.mkdir(parents=True)
            if stages is None:
                materialise(state, target)
            else:
                target = stages.enter(state)
        except (OSError, DiskFull) as e:
            if isinstance(e, DiskFull) or e.errno in FULL:
                raise DiskFull(f"no space left to build crash state {state.name.text()} "
                               f"under {work.parent}") from None
            raise
        if stopped():
            return None
        try:
            with _network(checker):
                verdict = checker.check(target, markers, scratch=work / "check")
            return _without_path(verdict, str(target))
        except PowercutError:
            raise
        except Exception as e:  # the checker broke on this state; the others go on
            if isinstance(e, OSError) and e.errno in FULL:
                raise DiskFull(f"no space left to check crash state {state.name.text()} "
                               f"under {work.parent} ({e.strerror})") from None
            return _without_path(error_verdict(e), str(target))
    finally:
        if stages is not None:
            stages.leave()
        shutil.rmtree(work, ignore_errors=True)


def _network(checker: Checker) -> contextlib.AbstractContextManager[object]:
    """A network namespace of the check's own for a checker that asks for one (where the
    kernel refuses, the checker sees `namespaces.in_own_network()` false and copes)."""
    if checker.own_network and namespaces.refused("net") is None:
        return namespaces.own_network()
    return contextlib.nullcontext()


def _without_path(verdict: Verdict, directory: str) -> Verdict:
    """The verdict with the state's temp directory shown as `<state>` in its log text.

    The directory is gone once the check returns; `<state>` reads as "the
    crash state", the same in every run, local or on a cluster.
    """
    if directory not in verdict.excerpt and directory not in verdict.log_tail:
        return verdict
    return dataclasses.replace(verdict, excerpt=verdict.excerpt.replace(directory, "<state>"),
                               log_tail=verdict.log_tail.replace(directory, "<state>"))


def _worker_died(verdict: Verdict) -> bool:
    """True when the check itself broke rather than the program judging the state.

    A hang is killed by the checker itself (no exit recorded); a SIGKILL the
    checker did not send (the OOM killer, an operator) is no verdict.
    """
    return verdict.evidence.worker_died or (
        verdict.signal == signal.SIGKILL and verdict.verdict != "hang")


def _died_twice(first: Verdict, last: Verdict) -> Verdict:
    # The signature stays the cause ("checker error: ValueError", "killed by
    # SIGKILL"); the verdict and the attempts say it is no judgement of the state.
    return dataclasses.replace(
        last, verdict="error", signature=last.signature or first.signature,
        evidence=dataclasses.replace(last.evidence, attempts=ATTEMPTS, worker_died=True))


class Pool(abc.ABC):
    """Runs checks for the driver; every verdict goes to `book` before it is collected."""

    def __init__(self, checker: Checker, markers_before: Callable[[int], list[Op]],
                 workers: int, book: VerdictBook) -> None:
        self.checker = checker
        self.markers_before = markers_before
        self.workers = workers  # checks running at once
        self.book = book
        self.stop = threading.Event()
        self.checked = 0  # states actually run through the checker
        self.deadlines = Deadlines(checker.timeout, early=False)  # the driver sets its own

    @property
    def capacity(self) -> int:
        """States the driver keeps submitted at once (more than `workers` hides latency)."""
        return self.workers

    @property
    @abc.abstractmethod
    def running(self) -> int:
        """Checks submitted and not yet collected."""

    @property
    def busy(self) -> int:
        """Checks holding a worker (a full-timeout re-check of a hang runs beside them)."""
        return self.running

    @abc.abstractmethod
    def submit(self, index: int, state: CrashState, *, full: bool = False) -> None:
        """Start checking `state` (the `index`-th enumerated; its image attached); `full`
        gives it the whole timeout, whatever the deadlines learned."""

    @abc.abstractmethod
    def collect(self, timeout: float) -> list[tuple[CrashState, Verdict]]:
        """Verdicts of the checks that finish within `timeout` (raises a set-up error)."""

    @abc.abstractmethod
    def shut_down(self) -> None:
        """Stop everything: no new checks, running programs killed, resources released."""


class ThreadPool(Pool):
    """Checks in threads of this process, each state in its own directory under `root`."""

    def __init__(self, checker: Checker, markers_before: Callable[[int], list[Op]],
                 workers: int, book: VerdictBook, root: Path) -> None:
        super().__init__(checker, markers_before, workers, book)
        self.root = root
        self.stages = Stages(root / "stages")
        self.name = f"powercut-check-{next(_pools)}"
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=self.name)
        # Full-timeout re-checks of suspected hangs mostly wait: they get a thread of their
        # own rather than hold one of the workers for the whole timeout.
        self.confirmer = ThreadPoolExecutor(1, thread_name_prefix=self.name + "-confirm")
        self._running: dict[Future[Verdict | None], CrashState] = {}
        self._confirming: set[Future[Verdict | None]] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def busy(self) -> int:
        return len(self._running) - len(self._confirming)

    def submit(self, index: int, state: CrashState, *, full: bool = False) -> None:
        executor = self.confirmer if full else self.executor
        future = executor.submit(self._check, index, state, full)
        self._running[future] = state
        if full:
            self._confirming.add(future)
            future.add_done_callback(self._confirming.discard)

    def _check(self, index: int, state: CrashState, full: bool) -> Verdict | None:
        limit = None if full else self.deadlines.now()
        verdict = check_state(self.checker, state, self.markers_before(state.point),
                              self.root / f"state-{index}", self.stop.is_set, limit, self.stages)
        if verdict is not None:
            self.deadlines.observe(verdict)
        if verdict is not None and not self.stop.is_set():
            # In the worker thread: journal syncs of parallel checks share one fdatasync.
            self.book.add(state.key, verdict)
        return verdict

    def collect(self, timeout: float) -> list[tuple[CrashState, Verdict]]:
        if not self._running:
            return []
        done, _ = wait(list(self._running), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            state = self._running.pop(future)
            verdict = future.result()
            if verdict is not None and not self.stop.is_set():
                self.checked += 1
                out.append((state, verdict))
        return out

    def shut_down(self) -> None:
        self.stop.set()
        while True:
            try:
                while self._running:
                    process.kill_all(self.name + "_")
                    done, _ = wait(list(self._running), timeout=POLL)
                    for future in done:
                        self._running.pop(future)
                self.executor.shutdown(wait=True, cancel_futures=True)
                self.confirmer.shutdown(wait=True, cancel_futures=True)
                self.stages.close()
                return
            except KeyboardInterrupt:  # a second Ctrl-C must not skip the cleanup
                continue
