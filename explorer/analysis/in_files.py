"""Root causes of a kernel file-system trace, said in the program's files, not the image's blocks.

On a kernel trace a culprit is "pages 3201,3202 of disk.img lost" or "a
crash right after op #40", which means nothing to a maintainer. For each
cause this mounts its culprit (the failing state) and the nearest state
that passes, compares the two recovered trees file by file (`filediff`),
and, by checking the failing tree with some of the passing tree's versions
put in (delta debugging over files, with the target's own checker and the
culprit's markers), keeps the smallest set of files whose loss fails: e.g.
"repo/.git/refs/heads/main keeps its old content: the rename over it was
lost". It also names the flush that made them durable.

The nearest passing state: for a culprit that loses units, the same crash
point with every unit kept; for a culprit that fails with everything kept
(the acknowledgement came before its data reached the disk at all), the
first later crash point whose disk passes with the same acknowledgements.

The cause's kind and roles then follow from the files (content or size:
`lost-data`; a name missing, left over or replaced: `lost-namespace`), so
a cause found on ext4 carries the ID of the same loss found by a model.
Every mount is powercut's and is taken off before the next; the checks
spent count against the cause budget.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from powercut.explorer.analysis import Analysis
from powercut.explorer.analysis.cause import RootCause, cause_id, describe_op, sort_key
from powercut.explorer.analysis.filediff import FileChange, apply, copy_tree, diff, snapshot
from powercut.explorer.analysis.roles import roles
from powercut.explorer.checkers.kernel import OnImage, Refused
from powercut.explorer.verdict import OpSummary
from powercut.replayer.materialise import materialise
from powercut.replayer.models.base import Pending
from powercut.replayer.space import Lost
from powercut.replayer.state import StateName
from powercut.trace import Op


@dataclass(frozen=True)
class InFiles:
    """What a cause's failing disk lost, in files."""

    changes: tuple[FileChange, ...]  # the fewest whose loss fails (all of them if not minimal)
    minimal: bool  # the checker confirmed that losing any fewer passes
    passing: StateName  # the state compared with
    durable_at: OpSummary | None  # the flush after which the files were on the disk
    checks: int

    def words(self) -> list[str]:
        return [c.words() for c in self.changes]


@dataclass
class Recoveries:
    """What explaining needs of the exploration: its states, its checker, its markers."""

    pending: Callable[[int], Pending]
    checker: OnImage
    markers_before: Callable[[int], list[Op]]
    ops: list[OpSummary]
    work: Path
    budget: int
    spent: int = 0

    @contextlib.contextmanager
    def recovered(self, point: int, lost: Lost) -> Iterator[Path | None]:
        """The tree the kernel recovers from the state (`point`, `lost`), copied out to a
        plain directory (None: the kernel refuses to mount it)."""
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            state = Path(tmp) / "state"
            materialise(self.pending(point).image(lost), state)
            tree = Path(tmp) / "tree"
            try:
                with self.checker.mounted(state, Path(tmp) / "mount") as (mnt, _, _):
                    copy_tree(mnt, tree)
            except Refused:
                yield None
                return
            shutil.rmtree(state, ignore_errors=True)
            yield tree

    def passes(self, tree: Path, markers: Sequence[Op]) -> bool:
        """Whether the target's checker passes on a copy of `tree` (one check spent)."""
        self.spent += 1
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            copy = Path(tmp) / "tree"
            copy_tree(tree, copy)
            verdict = self.checker.inner.check(copy, markers, scratch=Path(tmp) / "check")
        return not verdict.failing


def in_files(analysis: Analysis, rec: Recoveries, kernel: str) -> None:
    """Say each cause of `analysis` in files (each within its own budget of checks), mark it
    found on the `kernel` file system, then fold the causes that lose the same files."""
    merged: dict[str, RootCause] = {}
    for cause in analysis.causes:
        rec.budget = rec.spent + analysis.cause_budget
        said = dataclasses.replace(explain(cause, rec), models=(kernel,))
        known = merged.get(said.id)
        merged[said.id] = said if known is None else _fold(known, said)
    analysis.causes = sorted(merged.values(), key=sort_key)
    analysis.checks += rec.spent


def _fold(a: RootCause, b: RootCause) -> RootCause:
    return dataclasses.replace(
        a, points=tuple(sorted(set(a.points) | set(b.points))), failing=a.failing + b.failing,
        examples=(a.examples + b.examples)[:8], checks=a.checks + b.checks,
        missing=tuple(dict.fromkeys(a.missing + b.missing)))


def explain(cause: RootCause, rec: Recoveries) -> RootCause:
    """`cause` with what its failing disk lost in files, its kind, roles and barrier
    following from them; `cause` itself when the budget or the kernel does not allow."""
    culprit = cause.culprit
    pending = rec.pending(culprit.point)
    lost = pending.lost_of(culprit)
    markers = rec.markers_before(culprit.point)
    spent_before = rec.spent
    with rec.recovered(culprit.point, lost) as failing:
        if failing is None:
            return cause  # the kernel refuses the image: its message already says it all
        found = _passing(culprit, lost, rec, markers)
        if found is None:
            return cause
        passing_name, passing_lost = found
        with rec.recovered(passing_name.point, passing_lost) as passing:
            if passing is None:
                return cause
            changes = diff(snapshot(failing), snapshot(passing))
            kept, minimal = _fewest(changes, failing, passing, rec, markers)
    durable = _flush_at_or_after(rec.ops, passing_name.point if not lost else culprit.point + 1)
    files = InFiles(tuple(kept), minimal, passing_name, durable, rec.spent - spent_before)
    return _reworded(cause, files, rec.ops)


def _passing(culprit: StateName, lost: Lost, rec: Recoveries, markers: Sequence[Op]
             ) -> tuple[StateName, Lost] | None:
    if lost:
        return StateName(culprit.point, ()), frozenset()
    for point in range(culprit.point + 1, len(rec.ops)):
        if rec.spent >= rec.budget:
            return None
        with rec.recovered(point, frozenset()) as tree:
            if tree is not None and rec.passes(tree, markers):
                return StateName(point, ()), frozenset()
    return None


def _fewest(changes: list[FileChange], failing: Path, passing: Path, rec: Recoveries,
            markers: Sequence[Op]) -> tuple[list[FileChange], bool]:
    """The fewest changes that, put into the failing tree, make it pass (ddmin)."""
    def passes_with(subset: Sequence[FileChange]) -> bool:
        with tempfile.TemporaryDirectory(dir=rec.work) as tmp:
            tree = Path(tmp) / "tree"
            copy_tree(failing, tree)
            apply(tree, passing, subset)
            return rec.passes(tree, markers)

    if not changes or rec.spent >= rec.budget or not passes_with(changes):
        return changes, False
    current, n = list(changes), 2
    while len(current) >= 2:
        if rec.spent >= rec.budget:
            return current, False
        size = -(-len(current) // n)
        parts = [current[i:i + size] for i in range(0, len(current), size)]
        smaller = next((p for p in parts if passes_with(p)), None)
        if smaller is None and n > 2:
            smaller = next((rest for p in parts
                            if passes_with(rest := [c for c in current if c not in p])), None)
            if smaller is not None:
                n = max(n - 1, 2)
        if smaller is not None:
            current = smaller
            n = 2 if len(smaller) < size else n
        elif n >= len(current):
            break
        else:
            n = min(len(current), n * 2)
    return current, rec.spent <= rec.budget


def _flush_at_or_after(ops: list[OpSummary], point: int) -> OpSummary | None:
    for op in ops[max(point, 0):]:
        if op.op == "fsync":
            return op
    return None


def _reworded(cause: RootCause, files: InFiles, ops: list[OpSummary]) -> RootCause:
    if not files.changes or cause.kind in ("torn-write", "ordering"):
        # A torn or reordered write of the image stays one: the files say what it broke.
        return dataclasses.replace(cause, files=files)
    kind = "lost-data" if all(c.kind == "lost-data" for c in files.changes) else \
        "lost-namespace"
    paths = [c.path for c in files.changes]
    file_roles = roles(paths)
    at = cause.after if cause.after is not None else None
    when = f"before {describe_op(at)} (#{at.seq})" if at is not None else "earlier"
    durable = (f"; it reached the disk only with the flush at #{files.durable_at.seq}"
               if files.durable_at is not None else "; no later flush wrote it")
    names = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    barrier = f"make {names} durable {when}{durable}"
    summary = "; ".join(files.words()[:3])
    return dataclasses.replace(
        cause, id=cause_id((kind, cause.verdict, file_roles)), kind=kind, roles=file_roles,
        barrier=barrier, summary=summary, files=files)
