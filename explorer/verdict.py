"""What a checker says about one crash state, and the record of a whole exploration.

These are the plain values the driver produces and the analysis and the
reports consume; they hold no processes, paths to temp dirs or open files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from powercut.replayer.state import CrashPoint, CrashState

VerdictKind = Literal["ok", "unrecoverable", "data-loss", "hang", "error"]
FAILING: frozenset[str] = frozenset({"unrecoverable", "data-loss", "hang", "error"})


@dataclass(frozen=True)
class Verdict:
    """A checker's judgement of one materialised state, with its evidence.

    `signature` is the failure with timestamps, paths, addresses and numbers
    taken out, so equal failures compare equal ("" for ok). `log_tail` is
    the end of the program's output; `excerpt` the few lines that show the
    cause (the panic or fatal line and what follows).
    """

    kind: VerdictKind
    signature: str = ""
    exit_status: int | None = None
    signal: int | None = None
    log_tail: str = ""
    excerpt: str = ""
    duration: float = 0.0
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        return self.kind in FAILING


@dataclass(frozen=True)
class Judged:
    """One enumerated state and its verdict (a duplicate carries the verdict of its equal)."""

    state: CrashState
    verdict: Verdict


@dataclass(frozen=True)
class OpSummary:
    """An operation as the reports show it (no payload bytes)."""

    seq: int
    op: str
    pid: int
    path: str | None
    dst: str | None = None
    offset: int | None = None
    length: int | None = None
    datasync: bool | None = None
    text: str | None = None


@dataclass
class Exploration:
    """Everything an exploration found, in enumeration order."""

    trace: str  # path of the trace file as given
    trace_digest: str | None
    model: str
    page_size: int
    checker: str  # describe(), e.g. "command: ./check {dir}"
    ops: list[OpSummary]
    crash_points: list[CrashPoint]
    judged: list[Judged]
    elapsed: float = 0.0
    workers: int = 1
    checked: int = 0  # distinct states actually run through the checker
    reused: int = 0  # distinct states whose verdict came from the journal or the results cache
    interrupted: bool = False

    @property
    def enumerated(self) -> int:
        return len(self.judged)

    @property
    def distinct(self) -> int:
        return sum(1 for j in self.judged if not j.state.duplicate)
