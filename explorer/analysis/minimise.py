"""Minimise a failing crash state to its culprit, asking the program (the checker) each step.

From a failing state, units are moved back toward the crash point's
all-kept state, delta-debugging style, while the checker still gives the
same kind of failure: what remains lost is the culprit. Then two questions
are put to the checker:

- where does the culprit start to matter? The earliest crash point, from
  the operation that made its last unit pending, at which losing it fails
  (a binary search): the operation there is the one the missing barrier
  must precede;
- is it an ordering? A later pending unit whose loss *repairs* the state
  (culprit lost and that unit lost passes, both kept passes) is claimed as
  its partner; without that confirmation no ordering is claimed.

If the all-kept state itself fails, the culprit is empty: the program
cannot recover from a complete prefix of its own operations. Every step
goes through an `Oracle` (the driver's pool, with the results cache and
the journal answering repeats) and counts against a budget of checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from powercut.explorer.store.verdicts import Outcome
from powercut.replayer.models.base import Pending
from powercut.replayer.space import Lost
from powercut.replayer.state import BEFORE_FIRST, Unit


class Oracle(Protocol):
    """Judges crash states for the analysis (a pool plus the verdicts already known)."""

    checks: int  # checker runs spent so far (answers from the journal or cache are free)

    def pending(self, point: int) -> Pending: ...

    def key(self, pending: Pending, lost: Lost) -> str:
        """The content key the verdicts of the state are kept under (tree and markers)."""
        ...

    def judge(self, requests: Sequence[tuple[Pending, Lost]]) -> list[Outcome]: ...

    def known(self, requests: Sequence[tuple[Pending, Lost]]) -> list[Outcome | None]:
        """The outcomes already known (judged, journaled or cached), None for the others:
        answers that cost no check."""
        ...


class OutOfChecks(Exception):
    """The budget of checks ran out before the question was answered."""


@dataclass
class Asker:
    """An oracle with a budget of new checks, counting what it spends."""

    oracle: Oracle
    budget: int
    spent: int = 0

    def judge(self, requests: Sequence[tuple[Pending, Lost]]) -> list[Outcome]:
        if self.spent >= self.budget:  # what is known already still answers, for free
            known = self.oracle.known(requests)
            if all(o is not None for o in known):
                return [o for o in known if o is not None]
            raise OutOfChecks
        before = self.oracle.checks
        outcomes = self.oracle.judge(requests)
        self.spent += self.oracle.checks - before
        return outcomes

    def fails(self, pending: Pending, lost: Lost, verdict: str) -> bool:
        return self.judge([(pending, lost)])[0].verdict == verdict


@dataclass(frozen=True)
class Culprit:
    """What minimisation found at `point`: the lost units enough to break recovery."""

    point: int
    units: tuple[Unit, ...]  # the culprit's units at `point` (empty: the complete prefix fails)
    verdict: str
    first_point: int  # earliest crash point at which losing them fails (the barrier's "after")
    partner: tuple[Unit, ...] = ()  # ordering: later units whose loss repairs it
    torn: int | None = None  # the write it tears: its units are pages of it, others kept
    complete: bool = True  # False when the budget ran out before it was minimal
    core: tuple[Unit, ...] = ()  # the units lost for their own sake (see `core`); () = all

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(u.id for u in self.units)

    @property
    def essential(self) -> tuple[Unit, ...]:
        """What was lost, as a maintainer names it: the core units, without those the model
        could not keep once these were lost."""
        return self.core or self.units


def shrink(ask: Asker, pending: Pending, lost: Lost, verdict: str) -> tuple[Lost, bool]:
    """A minimal lost set that still fails with `verdict` (ddmin toward all kept); and whether it
    is minimal (False when the budget ran out first)."""
    space = pending.space
    current = lost
    n = 2
    try:
        while current:
            ordered = sorted(current)
            size = max(1, len(ordered) // n)
            chunks = [ordered[i:i + size] for i in range(0, len(ordered), size)]
            candidates = []
            for chunk in chunks:
                cand = space.keep(current, chunk)
                if cand != current and cand not in candidates:
                    candidates.append(cand)
            outcomes = ask.judge([(pending, c) for c in candidates]) if candidates else []
            smaller = [c for c, o in zip(candidates, outcomes, strict=True) if o.verdict == verdict]
            if smaller:
                current = min(smaller, key=len)
                n = max(n - 1, 2)
            elif size == 1:
                return current, True
            else:
                n = min(len(current), 2 * n)
        return current, True
    except OutOfChecks:
        return current, False


def same_units(pending: Pending, culprit: Sequence[Unit]) -> Lost | None:
    """The indices at `pending`'s point of the culprit's units, or None if one is not there.

    A page is the same unit when it has the same id and its latest write is
    one of the culprit's: a file renamed over, or rewritten in another life,
    reuses an id but not the unit.
    """
    index = {u.id: i for i, u in enumerate(pending.units)}
    found = set()
    for unit in culprit:
        i = index.get(unit.id)
        if i is None:
            return None
        here = pending.units[i]
        if here.is_op != unit.is_op or here.writes[-1] not in unit.writes:
            return None
        found.add(i)
    return frozenset(found)


def first_failing(ask: Asker, culprit: Sequence[Unit], since: int, point: int,
                  verdict: str) -> int:
    """The earliest crash point in [since, point] at which losing the culprit fails (binary
    search; `point` fails). A point where its units are not all pending counts as passing."""
    lo, hi = max(since, BEFORE_FIRST), point
    try:
        while lo < hi:
            mid = (lo + hi) // 2
            pending = ask.oracle.pending(mid)
            units = same_units(pending, culprit)
            if units is None:  # not pending there: it cannot fail from them
                lo = mid + 1
            elif ask.fails(pending, pending.space.lose(frozenset(), units), verdict):
                hi = mid
            else:
                lo = mid + 1
    except OutOfChecks:
        return hi
    return hi


def partner(ask: Asker, pending: Pending, lost: Lost) -> Lost:
    """Later pending units whose loss, with the culprit's, makes the state pass (empty: none
    confirmed). Bisects toward one unit."""
    space = pending.space
    latest = max((pending.units[i].seq for i in lost), default=BEFORE_FIRST)
    later = sorted((i for i in range(len(pending.units))
                    if i not in lost and pending.units[i].seq > latest),
                   key=lambda i: pending.units[i].seq)
    if not later:
        return frozenset()
    try:
        if ask.judge([(pending, space.lose(lost, later))])[0].verdict != "ok":
            return frozenset()
        while len(later) > 1:
            half = len(later) // 2
            first, second = later[:half], later[half:]
            a, b = ask.judge([(pending, space.lose(lost, first)),
                              (pending, space.lose(lost, second))])
            if a.verdict == "ok":
                later = first
            elif b.verdict == "ok":
                later = second
            else:
                break
    except OutOfChecks:
        return frozenset()
    return frozenset(later)


def minimise(ask: Asker, pending: Pending, lost: Lost, verdict: str) -> Culprit:
    """The culprit of the state of `pending` that loses `lost` and fails with `verdict`."""
    point = pending.point
    try:
        prefix_fails = ask.fails(pending, frozenset(), verdict)
    except OutOfChecks:
        prefix_fails = False
    if prefix_fails:
        first = first_failing(ask, (), BEFORE_FIRST, point, verdict)
        return Culprit(point, (), verdict, first)
    small, complete = shrink(ask, pending, lost, verdict)
    units = tuple(pending.units[i] for i in sorted(small))
    since = max((u.seq for u in units), default=BEFORE_FIRST)
    first = first_failing(ask, units, since, point, verdict)
    torn = torn_write(pending, small)
    pair = frozenset() if torn is not None else partner(ask, pending, small)
    roots = core(pending, small)
    return Culprit(point, units, verdict, first,
                   tuple(pending.units[i] for i in sorted(pair)), torn, complete,
                   () if roots == small else tuple(pending.units[i] for i in sorted(roots)))


def core(pending: Pending, lost: Lost) -> Lost:
    """The units of `lost` lost for their own sake: the others are lost only because the
    model cannot keep them once these are (a journal whose durable part is a prefix loses
    every entry after a lost one; an append's garbage goes with its size). Latest first."""
    roots = set(lost)
    for i in sorted(lost, key=lambda i: (-pending.units[i].seq, i)):
        rest = frozenset(roots - {i})
        if rest and pending.space.lose(frozenset(), rest) >= lost:
            roots.discard(i)
    return frozenset(roots)


def torn_write(pending: Pending, lost: Lost) -> int | None:
    """The write a lost set tears: every lost unit is a page of it and some page of it is
    kept (the latest such write), else None."""
    units = [pending.units[i] for i in lost]
    if not units or any(u.is_op for u in units):
        return None
    common = set(units[0].writes)
    for u in units[1:]:
        common &= set(u.writes)
    for seq in sorted(common, reverse=True):
        if any(not u.is_op and seq in u.writes and i not in lost
               for i, u in enumerate(pending.units)):
            return seq
    return None
