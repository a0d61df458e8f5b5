"""A root cause: the unit a maintainer acts on, what it is made of, and the barrier it lacks.

Plain frozen values built by `analysis.find_causes` and read by every
report. A cause is named by its culprit, folded over repeated instances:

- `kind`: `torn-write` (some pages of one write persisted, some not),
  `lost-data` (pages lost), `lost-namespace` (a namespace operation lost),
  `ordering` (A lost while a later B persisted, confirmed both ways),
  `prefix` (the program cannot recover even from a complete prefix of its
  own operations), `fsync-failure` (data a failed fsync left clean, lost
  after the program went on: see `fsync_failure`), or `unexplained`
  (failing states the budget of checks left unminimised, grouped by
  signature);
- `roles`: the file roles of the culprit (see `roles`), and `after`: the
  operation the missing barrier must precede (its first instance);
- `equivalent_states`: other culprits that leave the same disk (losing the
  second of two links is the crash between them), folded into it;
- a stable `id`, the same for the same culprit in every run and under
  every persistence model (`models` says which it appears under).

It never runs anything and never touches the disk.
"""

from __future__ import annotations

import errno
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from powercut.explorer.analysis.lazyfs import LazyFSFault
from powercut.explorer.analysis.roles import Roles
from powercut.explorer.verdict import OpSummary
from powercut.replayer.state import StateName

if TYPE_CHECKING:
    from powercut.explorer.analysis.in_files import InFiles

SEVERITY: dict[str, int] = {"unrecoverable": 0, "data-loss": 1, "hang": 2, "error": 3}
"""Most severe first: a verdict's rank when causes are sorted."""


@dataclass(frozen=True)
class SignatureCount:
    """One normalised failure, how many failing states show it, and one log excerpt."""

    signature: str
    count: int
    excerpt: str
    verdict: str


@dataclass(frozen=True)
class TornWrite:
    """A torn write: its pages, and which subsets of them kept fail or pass."""

    write: OpSummary
    pages: tuple[int, ...]
    failing: tuple[tuple[int, ...], ...]  # kept pages of the write, each subset once
    passing: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Equivalent:
    """Another culprit that leaves a disk the cause already explains: `how` is "lost" (its
    `ops` lost) or "reordered" (the first of its `ops` lost, the later ones persisted)."""

    how: str
    state: StateName
    ops: tuple[OpSummary, ...]

    def text(self) -> str:
        named = [f"{describe_op(o)} (#{o.seq})" for o in self.ops[:3]]
        if self.how == "reordered" and len(named) > 1:
            return f"by persisting {' and '.join(named[1:])} without {named[0]}"
        return f"by losing {', '.join(named)}"


@dataclass(frozen=True)
class RootCause:
    """Failing states folded into one culprit, with the barrier to add and reproducers."""

    id: str
    kind: str
    verdict: str  # unrecoverable, data-loss, hang or error
    roles: tuple[str, ...]  # roles of the culprit's files (ordering: of A)
    partner_roles: tuple[str, ...]  # ordering: roles of B
    ops: tuple[OpSummary, ...]  # the culprit's operations, first instance
    after: OpSummary | None  # the operation the barrier must precede (None: the start)
    barrier: str
    summary: str
    points: tuple[int, ...]  # crash points with a failing state of this cause
    failing: int  # failing states folded into it
    culprit: StateName  # the smallest reproducing state (the minimised one)
    replay: str
    signatures: tuple[SignatureCount, ...]
    lazyfs: LazyFSFault | None = None
    lazyfs_why_not: str = ""
    torn: TornWrite | None = None
    missing: tuple[str, ...] = ()  # data loss: acknowledged keys lost
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # the checker's own
    checks: int = 0  # checker runs its minimisation spent
    minimal: bool = True  # False: the budget ran out before the culprit was minimal
    examples: tuple[StateName, ...] = ()  # a few failing states (evidence)
    models: tuple[str, ...] = ()  # the persistence models it appears under
    hang: str = ""  # for hangs: "confirmed" at the full timeout, or "inferred"
    unchecked: int = 0  # failing states folded in by role and signature, budget spent
    equivalent_states: tuple[Equivalent, ...] = ()  # other culprits leaving the same disk
    files: InFiles | None = None  # kernel traces: what the failing disk lost, in files

    @property
    def first_point(self) -> int:
        return self.points[0] if self.points else self.culprit.point

    @property
    def last_point(self) -> int:
        return self.points[-1] if self.points else self.culprit.point

    @property
    def title(self) -> str:
        return f"{self.kind}: {self.summary}"

    @property
    def also(self) -> str:
        """How else its disk is reached ("also reached by losing …, or by …"), or ""."""
        if not self.equivalent_states:
            return ""
        shown = [e.text() for e in self.equivalent_states[:3]]
        more = len(self.equivalent_states) - len(shown)
        return "also reached " + ", or ".join(shown) + (f", and {more} more ways" if more else "")


def op_key(op: OpSummary | None, roles: Roles) -> tuple[str, ...]:
    """An operation folded to what repeats: its kind and its files' roles (a marker: just that)."""
    if op is None:
        return ("start",)
    if op.op == "marker":
        return ("marker",)
    paths = [p for p in (op.path, op.dst) if p is not None]
    return (op.op, *(roles.of(p) for p in paths))


def cause_id(key: tuple[object, ...]) -> str:
    """A stable id of a cause key: the same culprit gives the same id in every run and under
    every model (so a cause found under several models is one cause, in several)."""
    blob = json.dumps(list(key), sort_keys=True, default=str).encode()
    return "C" + hashlib.sha256(blob).hexdigest()[:8]


def sort_key(cause: RootCause) -> tuple[int, int, int]:
    return (SEVERITY.get(cause.verdict, len(SEVERITY)), cause.first_point, -cause.failing)


def describe_role(op: OpSummary | None, roles: Roles) -> str:
    """An operation with its files' roles, as a barrier names it for every instance
    ("link .git/objects/<xx>/tmp_obj_<tmp> → .git/objects/<xx>/<hash>")."""
    if op is None or op.op == "marker":
        return describe_op(op)
    role = roles.of
    if op.op == "write":
        return f"write to {role(op.path or '')}"
    if op.op == "fsync":
        return f"{'fdatasync' if op.datasync else 'fsync'} {role(op.path or '')}"
    if op.dst is not None:
        return f"{op.op} {role(op.path or '')} → {role(op.dst)}"
    return f"{op.op} {role(op.path or '')}" if op.path else op.op


def describe_op(op: OpSummary | None) -> str:
    """A short human phrase for an operation ("write 16384 B at 0 of member/snap/db"), and
    for a call `record --fail` failed, its error ("fsync data.log: FAILED with EIO")."""
    if op is not None and op.errno is not None:
        failed = errno.errorcode.get(op.errno, str(op.errno))
        return f"{describe_op(replace(op, errno=None))}: FAILED with {failed}"
    if op is None:
        return "the start"
    if op.op == "write":
        return f"write {op.length} B at {op.offset} of {op.path}"
    if op.op == "fsync":
        return f"{'fdatasync' if op.datasync else 'fsync'} {op.path}"
    if op.op == "fsyncdir":
        return f"{'fdatasync' if op.datasync else 'fsync'} of directory {op.path or '(mount root)'}"
    if op.dst is not None:
        return f"{op.op} {op.path} → {op.dst}"
    if op.op == "marker":
        return f"marker {op.text!r}"
    if op.op in ("truncate", "fallocate") and op.length is not None:
        return f"{op.op} {op.path} to {op.length} B"
    return f"{op.op} {op.path}" if op.path else op.op
