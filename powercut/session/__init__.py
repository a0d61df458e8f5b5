"""One exploration session, the library both doors call: the command line and `powercut.testing`.

A `Session` holds what an exploration of a trace is made of: the trace
(its valid prefix with `prefix`), the checker (chosen once, in `choice`),
the persistence models to compare, the strategy and its budget (the
target's own when none is given), the crash points, the workers, the
journal and the results cache. `explore()` explores the trace under every
model in turn, sharing the journal, the cache and a memo of this run's
verdicts and trace scan (a state's verdict does not depend on the model
that built it: a state one model judged is not checked again), and returns an `Explored`: each
model's exploration and their merged root causes, with the policy both
doors share (`--explain N`, baselines, the exit status). `check` judges one
crash state with the same checker. A session is a context manager: the
journal, the cache and the checker are released when it ends.

    with Session.open("app.trace", options={"check_cmd": "./check {dir}"},
                      models="lazyfs,alice") as session:
        with session.explore() as found:
            for cause in found.causes:
                print(cause.id, cause.models, cause.barrier)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powercut.explorer.analysis import DEFAULT_CAUSE_BUDGET
from powercut.explorer.checkers import Checker
from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import Progress, explore
from powercut.explorer.run.pool import check_state
from powercut.explorer.store.cache import ResultsCache, default_cache_dir
from powercut.explorer.store.journal import Journal, JournalError, open_journal
from powercut.explorer.store.memo import Memo
from powercut.explorer.verdict import Verdict
from powercut.replayer.models import get_model, parse_models
from powercut.replayer.models.base import PersistenceModel
from powercut.replayer.state import CrashState
from powercut.session.choice import choose_checker, default_budget
from powercut.session.result import Ending, Explored
from powercut.trace import Op, Trace, open_trace

__all__ = ["Ending", "Explored", "Session"]

OnProgress = Callable[[Progress], None]


@dataclass
class Session:
    """An exploration of one trace with one checker under one or more models."""

    trace: Trace
    checker: Checker
    models: tuple[PersistenceModel, ...]
    strategy: str = "auto"
    budget: int | None = None  # None with "exhaustive"
    max_states: int | None = None
    seed: int = 0
    points: Collection[int] | None = None
    workers: int | None = None
    executor: str = "local"
    scheduler: str | None = None
    cause_budget: int = DEFAULT_CAUSE_BUDGET
    early_hangs: bool = True
    journal_path: Path | None = None  # None: each exploration keeps its own, then drops it
    resume: bool = False
    keep_journal: bool = True  # False: removed once the exploration completes
    cache_dir: Path | None = None  # with `use_cache`: None is the default directory
    use_cache: bool = False
    owns_checker: bool = True  # the session made it, and closes it
    journal: Journal | None = field(default=None, init=False)
    cache: ResultsCache | None = field(default=None, init=False)
    warnings: list[str] = field(default_factory=list, init=False)
    _stack: ExitStack = field(default_factory=ExitStack, init=False, repr=False)

    @classmethod
    def open(cls, trace: Trace | Path | str, *, checker: str | Checker | None = None,
             options: Mapping[str, Any] | None = None, timeout: float | None = None,
             fsck: bool = False,
             models: str | tuple[str, ...] = "lazyfs", page_size: int | None = None,
             fsync_failure: str = "keep",
             prefix: bool = False, strategy: str = "auto", budget: int | None = None,
             **settings: Any) -> Session:
        """A session on `trace` (a path, or a trace already open): the checker by name (the
        trace's own by default) with its options, the models by name (`"lazyfs,alice"`),
        the budget the target asks for unless one is given; `settings` are the other fields.
        """
        opened = trace if isinstance(trace, Trace) else open_trace(trace, allow_prefix=prefix)
        names = parse_models(models) if isinstance(models, str) else list(models)
        chosen = tuple(get_model(name, page_size or opened.page_size, fsync_failure=fsync_failure)
                       for name in names)
        if budget is None and strategy != "exhaustive":
            budget = default_budget(opened)
        chosen_checker = choose_checker(opened, checker, options, timeout=timeout, fsck=fsck)
        return cls(opened, chosen_checker, chosen,
                   strategy=strategy, budget=None if strategy == "exhaustive" else budget,
                   owns_checker=not isinstance(checker, Checker), **settings)

    def __enter__(self) -> Session:
        """Open the journal (continued with `resume`) and the results cache."""
        identity = self.checker.identity()  # what a verdict depends on besides the state
        stack = self._stack
        if self.owns_checker:
            stack.callback(self.checker.close)
        if self.journal_path is not None:
            self.journal = stack.enter_context(open_journal(self.journal_path, identity,
                                                            resume=self.resume))
        if self.use_cache:
            try:
                self.cache = stack.enter_context(ResultsCache.open(
                    self.cache_dir or default_cache_dir(), identity))
            except JournalError as e:
                if self.cache_dir is not None:
                    raise
                self.warnings.append(f"exploring without a results cache: {e}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def explore(self, progress: Callable[[], AbstractContextManager[OnProgress | None]] |
                None = None) -> Explored:
        """Explore the trace under each model in turn (stopping at an interruption); each
        exploration gets the context `progress()` makes around it (a live display)."""
        explorations: list[Exploration] = []
        memo = Memo()  # a state one model judged is not checked again for the next
        try:
            for model in self.models:
                with (progress or _quiet)() as on_progress:
                    found = explore(
                        self.trace, self.checker, model, points=self.points,
                        workers=self.workers or os.cpu_count(), on_progress=on_progress,
                        journal=self.journal, cache=self.cache, executor=self.executor,
                        scheduler=self.scheduler, cause_budget=self.cause_budget,
                        early_hangs=self.early_hangs, strategy=self.strategy,
                        budget=self.budget, max_states=self.max_states, seed=self.seed,
                        memo=memo)
                explorations.append(found)
                if found.interrupted:
                    break
        except BaseException:
            for e in explorations:
                e.close()
            raise
        if self.cache is not None and self.cache.problem:
            self.warnings.append(f"the results cache stopped keeping verdicts: "
                                 f"{self.cache.problem}")
        result = Explored(explorations, self.journal_path)
        if not self.keep_journal and self.journal_path is not None and not (
                result.interrupted or result.paused):
            self.journal_path.unlink(missing_ok=True)  # reported: nothing left to resume
        return result

    def check(self, state: CrashState, markers: list[Op], work: Path) -> Verdict:
        """The checker's verdict on one crash state, materialised in `work` (made, removed)."""
        verdict = check_state(self.checker, state, markers, work)
        assert verdict is not None  # never stopped
        return verdict


def _quiet() -> AbstractContextManager[OnProgress | None]:
    return nullcontext(None)
