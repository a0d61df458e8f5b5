"""The exploration driver: check every distinct crash state of a trace once, in parallel.

`explore(trace, checker, model)` streams the enumeration, checks each
distinct state exactly once (a duplicate takes the verdict of the state
with its key), and returns an `Exploration` whose `judged` list is in
enumeration order whatever order the checks ran in. States likely to fail
are checked first (see `drive_order`), within a look-ahead window so
memory stays bounded.

Checks run in a `pool`: threads of this process by default, or the
workers of a Dask cluster (`executor="dask"`, see `pool_dask`), with the
same results. Each check gets its own fresh directory (locally under one
work dir, a temp dir under $TMPDIR unless `workdir` is given): the state is
materialised straight into it, judged there, and removed. On Ctrl-C the driver stops
submitting, kills running checkers, removes every directory it made and
returns a partial `Exploration(interrupted=True)`. It must never leave a
process or a directory behind, and never let one state's failure stop the
others (only a broken set-up, a `PowercutError`, does).
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from powercut.errors import PowercutError
from powercut.explorer.checkers import Checker
from powercut.explorer.run import leftovers
from powercut.explorer.run.order import TraceFacts
from powercut.explorer.run.pool import ATTEMPTS, POLL, Pool, ThreadPool
from powercut.explorer.store.cache import ResultsCache
from powercut.explorer.store.journal import Journal
from powercut.explorer.verdict import Exploration, Judged
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models import get_model
from powercut.replayer.models.base import PersistenceModel
from powercut.replayer.state import CrashState
from powercut.trace import Trace, open_trace

__all__ = ["ATTEMPTS", "EXECUTORS", "Progress", "explore"]

WINDOW = 4096  # distinct states held for ranking before the oldest must be checked
EXECUTORS = ("local", "dask")


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


def explore(trace: Trace | Path | str, checker: Checker,
            model: PersistenceModel | str = "lazyfs", *, workers: int | None = None,
            max_states: int | None = None, points: Collection[int] | range | None = None,
            timeout: float | None = None, on_progress: Callable[[Progress], None] | None = None,
            workdir: Path | None = None, journal: Journal | None = None,
            cache: ResultsCache | None = None, executor: str = "local",
            scheduler: str | None = None) -> Exploration:
    """Check every distinct crash state of `trace` with `checker` under `model`.

    `timeout`, when given, replaces the checker's own per-state timeout.
    `points` restricts the crash points; `max_states` bounds the states per
    crash point (the enumeration records the coverage it really had).
    `journal`, when given, supplies the verdicts of states already judged
    (they are not checked again) and receives every new verdict, durably,
    before it counts as judged. `cache`, when given, is consulted the same
    way (after the journal) and keeps every verdict but `error` for later
    explorations of any trace with the same states and the same checker.
    `executor="dask"` checks on the Dask cluster at `scheduler` (an address;
    None starts a local cluster of `workers` processes) instead of threads.
    """
    if executor not in EXECUTORS:
        raise PowercutError(f"executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
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
    pool: Pool
    try:
        if executor == "dask":
            from powercut.explorer.run.dask_pool import DaskPool

            pool = DaskPool(checker, facts.markers_before, trace, model, scheduler, workers)
            workers = pool.workers
        else:
            pool = ThreadPool(checker, facts.markers_before, workers, root)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    pool.journal = journal
    pool.cache = cache

    def report(done: bool) -> None:
        if on_progress is not None:
            on_progress(Progress(
                len(order), enumeration.stats.distinct, len(pool.verdicts),
                sum(1 for v in pool.verdicts.values() if v.failing), pool.running, done,
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
        elapsed=time.monotonic() - started, workers=workers,
        checked=len(pool.verdicts) - pool.reused, reused=pool.reused, interrupted=interrupted)


def _run(enumeration: Enumeration, facts: TraceFacts, pool: Pool, order: list[CrashState],
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
            known = None if state.duplicate else pool.stored(state.key)
            if known is not None:
                pool.verdicts[state.key] = known
                pool.reused += 1
            elif not state.duplicate:
                heapq.heappush(ranked, (facts.priority(state), index, state))
        while ranked and pool.running < pool.capacity:
            _, index, state = heapq.heappop(ranked)
            pool.submit(index, state)
        if exhausted and not ranked and not pool.running:
            return
        idle = pool.running < pool.capacity and not exhausted
        if pool.collect(0 if idle else POLL) or pulled:
            report(exhausted)


def _with_markers(state: CrashState, facts: TraceFacts, seen: set[str]) -> CrashState:
    """The state keyed by its tree and the markers before it (for checkers that read them).

    The same disk before and after an acknowledgement is judged against
    different expectations (a write acknowledged and not yet durable is only
    lost once the marker is there), so such states must not share a verdict.
    """
    key = f"{state.key}+{facts.markers_digest(state.point)}"
    duplicate = key in seen
    seen.add(key)
    return dataclasses.replace(state, key=key, duplicate=duplicate)
