"""What a checker says about one crash state (`Verdict`, its `Evidence`), and an operation as
reports show it.

Plain values the checkers produce and the analysis and the reports
consume; they hold no processes, paths to temp dirs or open files.
Evidence is a record of named fields, not a free map: the engine and the
checkers agree on each by its type. What a target adds of its own goes in
`fields` (named by the checker's `evidence_fields`: the members of a
cluster that did not recover), the analysis folds it into the cause and the
reports show it; `notes` is shown and never interpreted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

VerdictName = Literal["ok", "unrecoverable", "data-loss", "hang", "error"]
VERDICTS: tuple[str, ...] = ("ok", "unrecoverable", "data-loss", "hang", "error")
FAILING: frozenset[str] = frozenset({"unrecoverable", "data-loss", "hang", "error"})


@dataclass(frozen=True)
class LostWrite:
    """An acknowledged write a recovered state reads back wrong."""

    key: str
    value: str | None = None  # what was acknowledged (None: a delete, or not said)
    found: str | None = None  # what was read back (None: absent)


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on."""

    argv: tuple[str, ...] = ()  # the command that judged the state
    missing: tuple[LostWrite, ...] = ()  # data-loss: acknowledged writes read back wrong
    read_error: str = ""  # it came up, yet could not answer a read
    error: str = ""  # the check itself broke: the exception's message,
    exception: str = ""  # its type,
    where: str = ""  # and the innermost frame it came from
    worker_died: bool = False  # the check broke (retried once), no judgement of the state
    attempts: int = 1
    inferred: bool = False  # a hang suspected at an early deadline, not waited out
    deadline: float | None = None  # that deadline (s)
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # a target's own
    notes: Mapping[str, Any] = field(default_factory=dict)  # shown, never interpreted


@dataclass(frozen=True)
class Verdict:
    """A checker's judgement of one materialised state, with its evidence.

    `verdict` is one of `VERDICTS`. `signature` is the failure with
    timestamps, paths, addresses and numbers taken out, so equal failures
    compare equal ("" for ok). `log_tail` is the end of the program's
    output; `excerpt` the few lines that show the cause (the panic or fatal
    line and what follows).
    """

    verdict: VerdictName
    signature: str = ""
    exit_status: int | None = None
    signal: int | None = None
    log_tail: str = ""
    excerpt: str = ""
    duration: float = 0.0
    evidence: Evidence = field(default_factory=Evidence)

    @property
    def failing(self) -> bool:
        return self.verdict in FAILING


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
