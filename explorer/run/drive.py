"""The exploration driver: check the chosen crash states of a trace once each, then find causes.

`explore(trace, checker, model)` streams the enumeration (strategy and
budget: see the replayer's `enumeration.plan`), checks each distinct state
exactly once (a duplicate takes the verdict of the state with its key),
then minimises the failing states to their root causes, asking the checker
again through the same pool (`analysis`). States likely to show a cause
first are checked first (see `order`), within a look-ahead window so
memory stays bounded. Every state goes to a log on disk and every verdict
to the journal (durably, before it counts), so memory holds a few bytes
per state.

Checks run in a `pool`: threads of this process by default, or the
workers of a Dask cluster (`executor="dask"`), with the same results. Each
check gets its own fresh directory under the exploration's work dir. On
Ctrl-C the driver stops submitting, kills running checkers and returns a
partial `Exploration(interrupted=True)` without minimising, its analysis
marked not analysed (`Analysis.skipped`), so no report calls it clean. It must never
leave a process behind, and never let one state's failure stop the others
(only a broken set-up, a `PowercutError`, does). The returned
`Exploration` owns the work dir; closing it removes it.
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from powercut import guard
from powercut.errors import DiskFull, PowercutError
from powercut.explorer.analysis import (
    DEFAULT_CAUSE_BUDGET,
    Analysis,
    Context,
    checker_errors,
    find_causes,
)
from powercut.explorer.analysis.in_files import Recoveries, in_files
from powercut.explorer.checkers import Checker
from powercut.explorer.checkers.kernel import OnImage, on_kernel
from powercut.explorer.exploration import Exploration
from powercut.explorer.run import leftovers
from powercut.explorer.run.hangs import Deadlines, inferred
from powercut.explorer.run.oracle import PoolOracle
from powercut.explorer.run.order import TraceFacts
from powercut.explorer.run.pool import ATTEMPTS, POLL, Pool, ThreadPool
from powercut.explorer.store.cache import ResultsCache
from powercut.explorer.store.journal import Journal
from powercut.explorer.store.memo import Memo
from powercut.explorer.store.states import StateLog
from powercut.explorer.store.verdicts import VerdictBook
from powercut.kernelfs.filesystems import label
from powercut.replayer.enumeration import DEFAULT_BUDGET, Enumeration
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
    judged: int  # distinct states with a verdict (checked, or reused from a journal or cache)
    failing: int
    running: int
    enumeration_done: bool
    crash_points: int
    planned: int | None = None  # states the plan will enumerate (before dedup), once known
    phase: str = "checking"  # "checking", then "minimising"


def explore(trace: Trace | Path | str, checker: Checker,
            model: PersistenceModel | str = "lazyfs", *, workers: int | None = None,
            strategy: str = "auto", budget: int | None = DEFAULT_BUDGET,
            max_states: int | None = None, points: Collection[int] | range | None = None,
            seed: int = 0, timeout: float | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            workdir: Path | None = None, journal: Journal | None = None,
            cache: ResultsCache | None = None, executor: str = "local",
            scheduler: str | None = None, analyse: bool = True,
            cause_budget: int = DEFAULT_CAUSE_BUDGET, analysis_budget: int | None = None,
            early_hangs: bool = True, memo: Memo | None = None) -> Exploration:
    """Check the crash states of `trace` the strategy picks, with `checker` under `model`.

    `timeout`, when given, replaces the checker's own per-state timeout
    (before its identity is taken). `points` restricts the crash points.
    `journal`, when given, supplies the verdicts of states already judged
    (they are not checked again) and receives every new verdict, durably,
    before it counts as judged; otherwise a journal of the exploration's own
    is used. `cache`, when given, is consulted the same way (after the
    journal) and keeps every verdict but `error` for later explorations.
    `executor="dask"` checks on the Dask cluster at `scheduler` (None: a
    local cluster of `workers` processes). `analyse` minimises the failing
    states to root causes, spending at most `cause_budget` checks a cause and
    `analysis_budget` in all (default: eight causes' worth, at least 256).
    `early_hangs` suspects a hang once a state takes ten times the slowest
    recovery seen (see `hangs`), and confirms each hang cause at the full
    timeout before it is reported. `memo`, shared by the explorations of one
    run (one per model), answers first for states another of them judged
    (they count as `reused`, never as `checked`) and keeps the trace's pass.
    """
    if executor not in EXECUTORS:
        raise PowercutError(f"executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if not isinstance(trace, Trace):
        trace = open_trace(trace)
    if isinstance(model, str):
        model = get_model(model, trace.page_size)
    if trace.fs is not None and model.name != "lazyfs":
        raise PowercutError(
            f"the trace was recorded on a kernel {trace.fs.get('type')}: its crash states are "
            "the disk's (a volatile write cache, the lazyfs rules over the image) and the "
            f"kernel recovers each; --model {model.name} is for file-level traces")
    checker = on_kernel(checker, trace)
    if timeout is not None:
        checker.timeout = timeout
    if memo is not None:
        memo.bind(checker.identity())
    workers = max(1, workers or os.cpu_count() or 1)
    started = time.monotonic()
    facts = memo.facts(trace, model.page_size) if memo is not None else TraceFacts.scan(
        trace.ops(), model.page_size)
    markers = facts.markers_digest if facts.markers and checker.uses_markers else None
    enumeration = Enumeration(trace, model, strategy=strategy, budget=budget,
                              max_states=max_states, points=points, seed=seed, markers=markers)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    # An exploration killed outright (kill -9) left its checkers and work dir: end them.
    leftovers.reap(workdir or Path(tempfile.gettempdir()))
    root = Path(tempfile.mkdtemp(prefix=leftovers.PREFIX, dir=workdir))
    guard.hold(remove=str(root))  # a SIGKILLed exploration's dir goes with its guardian
    leftovers.claim(root)
    own_journal = journal is None
    try:
        if journal is None:
            journal = Journal.open(root / "verdicts.journal", checker.identity())
        book = VerdictBook(journal, cache, memo)
        pool = _pool(executor, checker, facts, trace, model, scheduler, workers, book, root)
    except BaseException:
        if own_journal and journal is not None:
            journal.close()
        shutil.rmtree(root, ignore_errors=True)
        raise
    pool.deadlines = Deadlines(checker.timeout, early=early_hangs)
    states = StateLog(root / "states.log")
    exploration = Exploration(
        trace=str(trace.path), trace_digest=trace.digest, model=model.name,
        page_size=model.page_size, checker=checker.describe(), ops=facts.ops,
        crash_points=enumeration.crash_points, plan=None, states=states, book=book,
        workdir=root, workers=pool.workers, own_journal=own_journal,
        kernel=label(trace.fs) if trace.fs is not None else None)
    try:
        try:
            _run(enumeration, facts, pool, states, book, on_progress)
        except KeyboardInterrupt:
            exploration.interrupted = True
        except DiskFull as e:  # paused: what is judged is in the journal; --resume goes on
            exploration.interrupted = True
            exploration.paused = str(e)
        finally:
            exploration.crash_points = enumeration.crash_points
            exploration.plan = enumeration.plan
            exploration.checked = pool.checked
            if isinstance(pool.checker, OnImage):
                exploration.same_tree = pool.checker.judged.reused
        if analyse and not exploration.interrupted:
            exploration.analysis = _analyse(exploration, trace, model, pool, facts, book,
                                            markers,
                                            cause_budget, analysis_budget, on_progress)
    except KeyboardInterrupt:
        exploration.interrupted = True
    except DiskFull as e:
        exploration.interrupted = True
        exploration.paused = str(e)
    except BaseException:
        pool.shut_down()
        exploration.close()
        raise
    pool.shut_down()
    if exploration.interrupted or not analyse:  # its failing states were never minimised
        why = "paused" if exploration.paused else "interrupted" if exploration.interrupted \
            else "not asked"
        exploration.analysis = Analysis.skipped(why, cause_budget)
        exploration.analysis.errors = checker_errors(exploration.pairs, book)
    exploration.checked = pool.checked  # with the analysis's minimisation and confirmations
    exploration.verdicts = Counter(j.outcome.verdict for j in exploration.iter_judged())
    exploration.elapsed = time.monotonic() - started
    return exploration


def _pool(executor: str, checker: Checker, facts: TraceFacts, trace: Trace,
          model: PersistenceModel, scheduler: str | None, workers: int, book: VerdictBook,
          root: Path) -> Pool:
    if executor == "dask":
        from powercut.explorer.run.dask_pool import DaskPool

        return DaskPool(checker, facts.markers_before, trace, model, scheduler, workers, book)
    return ThreadPool(checker, facts.markers_before, workers, book, root)


def _run(enumeration: Enumeration, facts: TraceFacts, pool: Pool, states: StateLog,
         book: VerdictBook, on_progress: Callable[[Progress], None] | None) -> None:
    """Feed distinct states, most telling first, to the pool until all are judged."""
    stream = iter(enumeration)
    ranked: list[tuple[tuple[int, int], int, CrashState]] = []
    exhausted = False

    def report(done: bool) -> None:
        if on_progress is not None:
            plan = enumeration.plan
            on_progress(Progress(len(states), enumeration.stats.distinct, len(book),
                                 book.failing, pool.running, done,
                                 len(enumeration.crash_points),
                                 plan.planned if plan is not None else None))

    confirming: set[str] = set()  # hang signatures whose first state is judged again in full
    while True:
        pulled = 0
        while not exhausted and len(ranked) < WINDOW and pulled < 256:
            state = next(stream, None)
            if state is None:
                exhausted = True
                report(True)
                break
            states.append(state)
            pulled += 1
            if state.duplicate or state.key in book or book.known(state.key) is not None:
                continue
            heapq.heappush(ranked, (facts.priority(state), len(states), state))
        while ranked and pool.busy < pool.capacity:
            _, index, state = heapq.heappop(ranked)
            pool.submit(index, state)
        if exhausted and not ranked and not pool.running:
            return
        idle = pool.busy < pool.capacity and not exhausted
        done = pool.collect(0 if idle else POLL)
        for state, verdict in done:
            if inferred(verdict) and verdict.signature not in confirming:
                # The first hang of its kind is judged again at the full timeout at once,
                # beside the rest: its cause is then confirmed by the time it is reported.
                confirming.add(verdict.signature)
                pool.submit(len(states) + len(confirming), state, full=True)
        if done or pulled:
            report(exhausted)


def _analyse(exploration: Exploration, trace: Trace, model: PersistenceModel, pool: Pool,
             facts: TraceFacts, book: VerdictBook, markers: Callable[[int], str] | None,
             cause_budget: int,
             analysis_budget: int | None,
             on_progress: Callable[[Progress], None] | None) -> Analysis:
    oracle = PoolOracle(trace, model, pool, book, markers)
    ctx = Context(exploration.trace, model.name, model.page_size, exploration.ops, book,
                  {cp.point: cp.units for cp in exploration.crash_points}, exploration.pairs,
                  trace_page_size=trace.page_size, prefix=trace.status == "truncated",
                  fsync_failure=model.fsync_failure)
    if on_progress is not None:
        on_progress(Progress(exploration.enumerated, exploration.distinct, len(book),
                             book.failing, 0, True, len(exploration.crash_points),
                             phase="minimising"))
    analysis = find_causes(exploration.pairs, ctx, oracle, cause_budget=cause_budget,
                           total_budget=analysis_budget)
    if any(c.verdict == "hang" for c in analysis.causes) and confirm_hangs(
            analysis, exploration, oracle):  # a suspected hang recovered: again
        analysis = find_causes(exploration.pairs, ctx, oracle, cause_budget=cause_budget,
                               total_budget=analysis_budget)
        confirm_hangs(analysis, exploration, oracle)
    if isinstance(pool.checker, OnImage) and exploration.kernel is not None:
        assert exploration.workdir is not None
        def known(point: int) -> str | None:
            outcome = book.outcome(oracle.key(oracle.pending(point), frozenset()))
            return None if outcome is None else outcome.verdict

        in_files(analysis, Recoveries(oracle.pending, pool.checker, facts.markers_before,
                                      exploration.ops, exploration.workdir, cause_budget,
                                      page_size=model.page_size, known=known,
                                      limit=pool.deadlines.now()), exploration.kernel)
    return analysis


def confirm_hangs(analysis: Analysis, exploration: Exploration, oracle: PoolOracle) -> bool:
    """Judge each hang cause's culprit at the full timeout; say in each cause whether its hang
    is confirmed or only inferred. True when one recovered: then every hang only inferred at
    its crash points was judged again at the full timeout, and the causes must be found anew."""
    book = exploration.book
    again = False
    for i, cause in enumerate(analysis.causes):
        if cause.verdict != "hang":
            continue
        pending = oracle.pending(cause.culprit.point)
        lost = pending.lost_of(cause.culprit)
        verdict = book.full(oracle.key(pending, lost))
        if not inferred(verdict):
            analysis.causes[i] = dataclasses.replace(cause, hang="confirmed")
            continue
        [outcome] = oracle.judge([(pending, lost)], full=True)
        if outcome.verdict == "hang":
            analysis.causes[i] = dataclasses.replace(
                cause, hang="confirmed at the full timeout; its other states inferred early")
            continue
        again = True
        points = set(cause.points)
        for state, seen in exploration.pairs():
            if state.point in points and seen.verdict == "hang" and \
                    inferred(book.full(state.key)):
                at = oracle.pending(state.point)
                oracle.judge([(at, at.lost_of(state.name))], full=True)
    return again
