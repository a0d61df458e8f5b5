"""What a checker says about one crash state (`Verdict`), and an operation as reports show it.

Plain values the checkers produce and the analysis and the reports
consume; they hold no processes, paths to temp dirs or open files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
    errno: int | None = None  # the call failed with it (`record --fail`)
