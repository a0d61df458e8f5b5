"""The exploration driver: check every distinct crash state of a trace once, in parallel.

`explore(trace, checker, model)` streams the enumeration, checks each
distinct state exactly once (a duplicate takes the verdict of the state
with its key), and returns an `Exploration` whose `judged` list is in
enumeration order whatever order the checks ran in. States likely to fail
are checked first (see `drive_order`), within a look-ahead window so
memory stays bounded.

The pool is threads, on purpose: the work happens in child processes (etcd,
the user's command) that a thread only waits on; materialising a state is
mostly file I/O. Threads share the checker and its port pool, need no
pickling of images, and let an interrupt kill every child at once.

Each check gets its own fresh directory under one work dir (a temp dir
under $TMPDIR unless `workdir` is given): the state is materialised
straight into it, judged there, and removed. On Ctrl-C the driver stops
submitting, kills running checkers, removes every directory it made and
returns a partial `Exploration(interrupted=True)`. It must never leave a
process or a directory behind, and never let one state's failure stop the
others (only a broken set-up, a `PowercutError`, does).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from powercut.errors import PowercutError
from powercut.explorer import leftovers
from powercut.explorer.checkers import Checker, process
from powercut.explorer.drive_order import TraceFacts
from powercut.explorer.journal import Journal
from powercut.explorer.verdict import Exploration, Judged, Verdict
from powercut.recorder.trace_format import Trace, open_trace
from powercut.replayer.enumerate import Enumeration
from powercut.replayer.materialise import materialise
from powercut.replayer.models import get_model
from powercut.replayer.persistence import PersistenceModel
from powercut.replayer.state import CrashState

ATTEMPTS = 2  # a state whose worker dies is checked once more before it is an `error`
WINDOW = 4096  # distinct states held for ranking before the oldest must be checked
POLL = 0.1
_pools = itertools.count()


@dataclass(frozen=True)
class Progress:
    """Where an exploration is, for a live display."""

    enumerated: int
    distinct: int
    checked: int
    failing: int
    running: int
    enumeration_done: bool
    crash_points: int


class _Pool:
    """The threads, the work dir and the bookkeeping of one exploration."""

    def __init__(self, checker: Checker, facts: TraceFacts, root: Path, workers: int) -> None:
        self.checker = checker
        self.facts = facts
        self.root = root
        self.workers = workers
        self.stop = threading.Event()
        self.name = f"powercut-check-{next(_pools)}"
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix=self.name)
        self.running: dict[Future[Verdict | None], CrashState] = {}
        self.verdicts: dict[str, Verdict] = {}
        self.journal: Journal | None = None
        self.resumed = 0  # states whose verdict came from the journal

    def submit(self, index: int, state: CrashState) -> None:
        future = self.executor.submit(self._check, index, state)
        self.running[future] = state

    def _check(self, index: int, state: CrashState) -> Verdict | None:
        # A worker that dies (the checker raises, or something else SIGKILLs
        # its program) says nothing about the state: try once more on a fresh
        # copy, then report `error`.
        first: Verdict | None = None
        for attempt in range(ATTEMPTS):
            verdict = self._check_once(index, state, attempt)
            if verdict is None or self.stop.is_set():
                return None
            if not _worker_died(verdict):
                break
            first = first or verdict
        else:
            verdict = _died_twice(first or verdict, verdict)
        if self.journal is not None:
            # Durable before it is reported: a resumed run never judges it again.
            self.journal.append(state.key, verdict)
        return verdict

    def _check_once(self, index: int, state: CrashState, attempt: int) -> Verdict | None:
        work = self.root / (f"state-{index}" if attempt == 0 else f"state-{index}-{attempt}")
        target = work / "root"
        try:
            work.mkdir()
            materialise(state, target)
            if self.stop.is_set():
                return None
            try:
                return self.checker.check(target, self.facts.markers_before(state.point),
                                          scratch=work / "check")
            except PowercutError:
                raise
            except Exception as e:  # the checker broke on this state; the others go on
                return Verdict("error", signature=f"checker error: {type(e).__name__}",
                               evidence={"error": str(e), "worker_died": True})
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def collect(self, timeout: float) -> list[tuple[CrashState, Verdict]]:
        """Verdicts of the checks that finish within `timeout` (raises a set-up error)."""
        if not self.running:
            return []
        done, _ = wait(list(self.running), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            state = self.running.pop(future)
            verdict = future.result()
            if verdict is not None and not self.stop.is_set():
                self.verdicts[state.key] = verdict
                out.append((state, verdict))
        return out

    def shut_down(self) -> None:
        """Stop everything: no new checks, running children killed, threads joined."""
        self.stop.set()
        while True:
            try:
                while self.running:
                    process.kill_all(self.name + "_")
                    done, _ = wait(list(self.running), timeout=POLL)
                    for future in done:
                        self.running.pop(future)
                self.executor.shutdown(wait=True, cancel_futures=True)
                return
            except KeyboardInterrupt:  # a second Ctrl-C must not skip the cleanup
                continue


def explore(trace: Trace | Path | str, checker: Checker,
            model: PersistenceModel | str = "lazyfs", *, workers: int | None = None,
            max_states: int | None = None, points: Collection[int] | range | None = None,
            timeout: float | None = None, on_progress: Callable[[Progress], None] | None = None,
            workdir: Path | None = None, journal: Journal | None = None) -> Exploration:
    """Check every distinct crash state of `trace` with `checker` under `model`.

    `timeout`, when given, replaces the checker's own per-state timeout.
    `points` restricts the crash points; `max_states` bounds the states per
    crash point (the enumeration records the coverage it really had).
    `journal`, when given, supplies the verdicts of states already judged
    (they are not checked again) and receives every new verdict, durably,
    before it counts as judged.
    """
    if not isinstance(trace, Trace):
        trace = open_trace(trace)
    if isinstance(model, str):
        model = get_model(model, trace.page_size)
    if timeout is not None:
        checker.timeout = timeout
    workers = max(1, workers or os.cpu_count() or 1)
    started = time.monotonic()
    facts = TraceFacts.scan(trace.ops(), model.page_size)
    enumeration = Enumeration(trace, model, max_states=max_states, points=points)
    order: list[CrashState] = []
    interrupted = False
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    # An exploration killed outright (kill -9) left its checkers and work dir: end them.
    leftovers.reap(workdir or Path(tempfile.gettempdir()))
    root = Path(tempfile.mkdtemp(prefix=leftovers.PREFIX, dir=workdir))
    leftovers.claim(root)
    pool = _Pool(checker, facts, root, workers)
    pool.journal = journal

    def report(done: bool) -> None:
        if on_progress is not None:
            on_progress(Progress(
                len(order), enumeration.stats.distinct, len(pool.verdicts),
                sum(1 for v in pool.verdicts.values() if v.failing), len(pool.running), done,
                len(enumeration.crash_points)))

    try:
        _run(enumeration, facts, pool, order, report)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pool.shut_down()
        shutil.rmtree(root, ignore_errors=True)
    judged = [Judged(dataclasses.replace(s, image=None), pool.verdicts[s.key])
              for s in order if s.key in pool.verdicts]
    return Exploration(
        trace=str(trace.path), trace_digest=trace.digest, model=model.name,
        page_size=model.page_size, checker=checker.describe(), ops=facts.ops,
        crash_points=list(enumeration.crash_points), judged=judged,
        elapsed=time.monotonic() - started, workers=workers, checked=len(pool.verdicts),
        interrupted=interrupted)


def _run(enumeration: Enumeration, facts: TraceFacts, pool: _Pool, order: list[CrashState],
         report: Callable[[bool], None]) -> None:
    """Feed distinct states, most likely failures first, to the pool until all are judged."""
    states: Iterator[CrashState] = iter(enumeration)
    ranked: list[tuple[int, int, CrashState]] = []
    exhausted = False
    seen: set[str] = set()  # keys with markers (see _with_markers)
    while True:
        pulled = 0
        while not exhausted and len(ranked) < WINDOW and pulled < 256:
            state = next(states, None)
            if state is None:
                exhausted = True
                report(True)
                break
            index = len(order)
            if facts.markers and getattr(pool.checker, "uses_markers", False):
                state = _with_markers(state, facts, seen)
            # Only the ranked copy keeps its image: the record of the state needs none.
            order.append(dataclasses.replace(state, image=None))
            pulled += 1
            known = pool.journal.get(state.key) if pool.journal is not None else None
            if known is not None and not state.duplicate:
                pool.verdicts[state.key] = known
                pool.resumed += 1
            elif not state.duplicate:
                heapq.heappush(ranked, (facts.priority(state), index, state))
        while ranked and len(pool.running) < pool.workers:
            _, index, state = heapq.heappop(ranked)
            pool.submit(index, state)
        if exhausted and not ranked and not pool.running:
            return
        idle = len(pool.running) < pool.workers and not exhausted
        if pool.collect(0 if idle else POLL) or pulled:
            report(exhausted)


def _with_markers(state: CrashState, facts: TraceFacts, seen: set[str]) -> CrashState:
    """The state keyed by its tree and the markers before it (for checkers that read them).

    The same disk before and after an acknowledgement is judged against
    different expectations (a write acknowledged and not yet durable is only
    lost once the marker is there), so such states must not share a verdict.
    """
    key = f"{state.key}+markers{len(facts.markers_before(state.point))}"
    duplicate = key in seen
    seen.add(key)
    return dataclasses.replace(state, key=key, duplicate=duplicate)


def _worker_died(verdict: Verdict) -> bool:
    """True when the check itself broke rather than the program judging the state.

    A hang is killed by the checker itself (no exit recorded); a SIGKILL the
    checker did not send (the OOM killer, an operator) is no verdict.
    """
    return bool(verdict.evidence.get("worker_died")) or (
        verdict.signal == signal.SIGKILL and verdict.kind != "hang")


def _died_twice(first: Verdict, last: Verdict) -> Verdict:
    # The signature stays the cause ("checker error: ValueError", "killed by
    # SIGKILL"); the kind and the attempts say it is no judgement of the state.
    return dataclasses.replace(
        last, kind="error", signature=last.signature or first.signature,
        evidence={**last.evidence, "attempts": ATTEMPTS, "worker_died": True})
