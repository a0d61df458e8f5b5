"""What a session's exploration found under every model it was asked for, and what that means.

One `Exploration` per persistence model, and their root causes merged
into one list (a cause's id does not depend on the model: each says under
which models it appears). Here too the policy both doors share: which
cause `--explain N` names (its number in the merged list, or its id),
which causes a baseline report did not have, and the exit status.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from powercut.explorer.analysis.cause import RootCause
from powercut.explorer.exploration import Exploration
from powercut.explorer.report.models import merge
from powercut.explorer.report.summary import coverage

EXIT_CAUSES = 1
EXIT_BROKEN = 2
EXIT_COVERAGE = 4
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Ending:
    """How an exploration ends for its caller: an exit status and, if any, why in words."""

    status: int
    message: str = ""


@dataclass
class Explored:
    """The explorations of one session (one per model) and their merged root causes."""

    explorations: list[Exploration]
    journal: Path | None = None  # where the verdicts are kept for --resume
    causes: list[RootCause] = field(init=False)

    def __post_init__(self) -> None:
        self.causes = merge(self.explorations)

    @property
    def interrupted(self) -> bool:
        return any(e.interrupted for e in self.explorations)

    @property
    def paused(self) -> str:
        """Why the exploration stopped on its own (a full disk), or ""."""
        return next((e.paused for e in self.explorations if e.paused), "")

    @property
    def errors(self) -> int:
        """States no checker could judge (checker errors), over every model."""
        return sum(len(e.analysis.errors) for e in self.explorations)

    @property
    def share(self) -> float:
        """The least share of legal states explored, over the models."""
        return min(coverage(e)["share"] for e in self.explorations)

    @property
    def from_cache(self) -> int:
        return sum(e.book.from_cache for e in self.explorations)

    @property
    def distinct(self) -> int:
        return sum(e.distinct for e in self.explorations)

    def cause(self, which: str) -> tuple[int, RootCause] | None:
        """The root cause `which` names: its number in the report (from 1) or its id."""
        for n, cause in enumerate(self.causes, 1):
            if which in (cause.id, str(n)):
                return n, cause
        return None

    def new(self, known: Collection[str]) -> list[RootCause]:
        """The causes whose ids a baseline report does not have."""
        return [c for c in self.causes if c.id not in known]

    def ending(self, *, least: float | None = None, known: Collection[str] | None = None,
               fail_on_new: bool = False) -> Ending:
        """The exit status: 2 paused or only checker errors, 130 interrupted, 4 coverage
        below `least`, 1 root causes (with `fail_on_new`: causes `known` lacks), else 0."""
        if self.paused:
            judged = sum(len(e.book) for e in self.explorations)
            return Ending(EXIT_BROKEN, f"paused: {self.paused}; the {judged} states judged so "
                          f"far are kept in {self.journal}: free some space (or point TMPDIR "
                          "elsewhere) and run the same command with --resume")
        if self.interrupted:
            return Ending(EXIT_INTERRUPTED, "interrupted; the report covers the states judged "
                          f"so far; --resume continues from {self.journal}")
        if least is not None and self.share < least:
            return Ending(EXIT_COVERAGE, f"coverage {self.share:.1%} is below --min-coverage "
                          f"{least:.1%}; raise --budget or use --strategy exhaustive")
        causes = self.new(known) if fail_on_new and known is not None else self.causes
        if causes:
            return Ending(EXIT_CAUSES)
        if self.errors:
            return Ending(EXIT_BROKEN, "some states could not be judged (checker errors, see "
                          "the report); fix the checker and explore again")
        return Ending(0)

    def close(self) -> None:
        for exploration in self.explorations:
            exploration.close()

    def __enter__(self) -> Explored:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
