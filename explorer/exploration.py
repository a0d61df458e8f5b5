"""The record of one exploration: what was enumerated, what was judged, and its root causes.

Returned by `explore`. Its states live on disk (`StateLog`) and its
verdicts in its journal (`VerdictBook`), so it holds a few bytes per
state in memory; `iter_judged()` streams (state, outcome) pairs in enumeration
order, `verdict(key)` reads one whole verdict back. Close it (or use it as
a context manager) to remove its work directory; reports must be written
before.
"""

from __future__ import annotations

import shutil
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from powercut.explorer.analysis import Analysis
from powercut.explorer.analysis.cause import RootCause
from powercut.explorer.store.states import StateLog
from powercut.explorer.store.verdicts import Outcome, VerdictBook
from powercut.explorer.verdict import OpSummary, Verdict
from powercut.replayer.enumeration.plan import Plan
from powercut.replayer.state import CrashPoint, CrashState


@dataclass(frozen=True)
class Judged:
    """One enumerated state and its verdict's outcome (a duplicate carries its equal's)."""

    state: CrashState
    outcome: Outcome


@dataclass
class Exploration:
    """Everything an exploration found; states and verdicts stream from disk."""

    trace: str  # path of the trace file as given
    trace_digest: str | None
    model: str
    page_size: int
    checker: str  # describe(), e.g. "command: ./check {dir}"
    ops: list[OpSummary]
    crash_points: list[CrashPoint]
    plan: Plan | None
    states: StateLog
    book: VerdictBook
    workdir: Path | None = None  # removed by close()
    own_journal: bool = False  # the journal is a temporary one of this exploration
    elapsed: float = 0.0
    workers: int = 1
    checked: int = 0  # distinct states actually run through the checker
    interrupted: bool = False
    paused: str = ""  # why it stopped early on its own (a full disk); interrupted is set too
    analysis: Analysis = field(default_factory=Analysis)
    verdicts: Counter[str] = field(default_factory=Counter)  # over enumerated states
    # A kernel file-system trace: the file system that recovers each crash image ("ext4
    # data=writeback"); its causes are marked with it rather than with the disk's model.
    kernel: str | None = None
    # Of the states checked on the kernel, those that recovered to a tree the checker had
    # already judged (its verdict reused without running the program; see checkers.recovered)
    same_tree: int = 0

    @property
    def reused(self) -> int:
        """Distinct states whose verdict came from the journal or the results cache."""
        return self.book.reused

    @property
    def shared(self) -> int:
        """Distinct states judged under another model of the same run (see `Memo`), among
        `reused`: no check of this exploration's."""
        return self.book.shared

    @property
    def causes(self) -> list[RootCause]:
        return self.analysis.causes

    @property
    def enumerated(self) -> int:
        return len(self.states)

    @property
    def distinct(self) -> int:
        """Distinct states enumerated (the analysis may judge more: see `checked`)."""
        return self.states.distinct

    @property
    def judged(self) -> list[Judged]:
        """Every judged state, in a list: for tests and small explorations (it loads every
        state; reports stream `iter_judged()`)."""
        return list(self.iter_judged())

    def iter_judged(self) -> Iterator[Judged]:
        """Every enumerated state with its outcome, in enumeration order (states never
        judged, after an interruption, are left out)."""
        for state in self.states:
            outcome = self.book.outcome(state.key)
            if outcome is not None:
                yield Judged(state, outcome)

    def pairs(self) -> Iterator[tuple[CrashState, Outcome]]:
        for j in self.iter_judged():
            yield j.state, j.outcome

    def verdict(self, key: str) -> Verdict | None:
        """The whole verdict of a judged state (log excerpt, evidence), from the journal."""
        return self.book.full(key)

    def __post_init__(self) -> None:
        # A library caller that never closes it still gets its work dir removed.
        self._finalizer = weakref.finalize(self, _remove, self.workdir, self.states)

    def close(self) -> None:
        self._finalizer.detach()
        self.states.close()
        if self.own_journal:
            self.book.journal.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> Exploration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _remove(workdir: Path | None, states: StateLog) -> None:
    states.close()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
