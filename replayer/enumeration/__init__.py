"""Crash states of a trace, streamed lazily, deduplicated, within a budget, with honest coverage.

For each crash point the model names the pending units and the `Space` of
legal choices; `plan` decides from the counts how much of each point to
enumerate, and this module streams the states: every legal one where the
point is explored exhaustively (generated directly, never filtered out of
2^n), the systematic classes (`classes`) where it is too large, then
uniform random samples with what the budget has left. Each state carries a
content key (with the markers before it, for checkers that read them) and
is marked `duplicate` when an earlier state had the same key. Per crash
point a `CrashPoint` records how many states each class had and how many
were enumerated, so a cut is never silent. Memory stays flat in the number
of states (keys beyond a bound live on disk, see `keyset`); this module
never materialises anything.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TypeVar

from powercut.errors import PowercutError
from powercut.replayer.enumeration.classes import classes, members
from powercut.replayer.enumeration.keyset import KeySet
from powercut.replayer.enumeration.plan import DEFAULT_BUDGET, Plan, make_plan, water_level
from powercut.replayer.models.base import Pending, PersistenceModel, StateImage
from powercut.replayer.space import Lost
from powercut.replayer.state import (
    BEFORE_FIRST,
    ClassCount,
    CrashPoint,
    CrashState,
    verdict_key,
)
from powercut.trace import Trace

__all__ = ["DEFAULT_BUDGET", "Enumeration", "EnumerationStats", "Plan", "check_points"]

T = TypeVar("T")
Emitted = Generator[CrashState, None, T]
RANDOM_PASSES = 3  # passes of random samples before giving up on filling the budget
DRAWS_PER_SAMPLE = 4  # draws tried per wanted sample before a point counts as exhausted


@dataclass(frozen=True)
class EnumerationStats:
    crash_points: int = 0
    enumerated: int = 0
    distinct: int = 0
    legal: int = 0
    bounded_points: int = 0

    @property
    def coverage(self) -> float:
        """Share of the legal states (before dedup) enumerated."""
        return 1.0 if self.legal == 0 else self.enumerated / self.legal


def check_points(points: Iterable[int] | None, op_count: int) -> frozenset[int] | None:
    """The crash points asked for, all of which must exist in a trace of `op_count` ops."""
    if points is None:
        return None
    if isinstance(points, range) and points.step == 1 and len(points) > 4096:
        ends = [p for p in (points.start, points.stop - 1) if not BEFORE_FIRST <= p < op_count]
        if ends:
            raise PowercutError(f"crash point {ends[0]} does not exist: this trace has "
                                f"points {BEFORE_FIRST}..{op_count - 1}")
        points = range(max(points.start, BEFORE_FIRST), min(points.stop, op_count))
    wanted = frozenset(points)
    bad = sorted(p for p in wanted if not BEFORE_FIRST <= p < op_count)
    if bad:
        raise PowercutError(f"crash point {bad[0]} does not exist: this trace has "
                            f"points {BEFORE_FIRST}..{op_count - 1}")
    return wanted


class Enumeration:
    """Iterate to stream every chosen `CrashState`; `crash_points`, `plan` and `stats` fill in.

    Iterating again starts afresh (and forgets the keys seen before).
    `markers(point)`, when given, is the digest of the markers a checker is
    told at that point: states dedup on tree and markers.
    """

    def __init__(self, trace: Trace, model: PersistenceModel, *, strategy: str = "auto",
                 budget: int | None = DEFAULT_BUDGET, max_states: int | None = None,
                 points: Collection[int] | range | None = None, seed: int = 0,
                 markers: Callable[[int], str] | None = None) -> None:
        make_plan(strategy, [], budget=budget, max_states=max_states)  # checks the options
        self.trace = trace
        self.model = model
        self.strategy = strategy
        self.budget = budget
        self.max_states = max_states
        self.seed = seed
        self.points = check_points(points, trace.op_count)
        self.markers = markers
        self.crash_points: list[CrashPoint] = []
        self.plan: Plan | None = None
        self._keys = KeySet()
        self._enumerated = 0

    @property
    def stats(self) -> EnumerationStats:
        """Counts so far (final once iteration has ended)."""
        cps = self.crash_points
        return EnumerationStats(len(cps), self._enumerated, len(self._keys),
                                sum(cp.legal for cp in cps),
                                sum(1 for cp in cps if not cp.exhaustive))

    def _pendings(self, wanted: Collection[int] | None) -> Iterator[Pending]:
        last = None if wanted is None else max(wanted, default=BEFORE_FIRST - 1)
        if last is not None and last < BEFORE_FIRST:
            return
        for pending in self.model.crash_points(
                self.trace, None if wanted is None else wanted.__contains__):
            yield pending
            if last is not None and pending.point >= last:
                return

    def __iter__(self) -> Iterator[CrashState]:
        self.crash_points = []
        self._keys.close()
        self._keys = KeySet()
        self._enumerated = 0
        counts = [p.space.count() for p in self._pendings(self.points)]
        self.plan = plan = make_plan(self.strategy, counts, budget=self.budget,
                                     max_states=self.max_states, seed=self.seed)
        rng = random.Random(self.seed)
        sampled: list[int] = []  # indices into crash_points of points left to random samples
        for pending, legal in zip(self._pendings(self.points), counts, strict=True):
            mode = plan.mode(legal)
            if self.strategy == "exhaustive" and plan.max_states and legal > plan.max_states:
                mode = "systematic"
            cap = plan.cap if mode != "exhaustive" else None
            found: list[ClassCount] = []
            if mode == "exhaustive":
                here = yield from self._emit(pending, pending.space.choices(), "exhaustive")
                found.append(ClassCount("exhaustive", legal, here))
            elif mode == "random":
                here = yield from self._sample(pending, rng, cap or 1)
                found.append(ClassCount("random", legal, here))
            else:
                found = yield from self._systematic(pending, cap or 1)
                if self.strategy == "auto":
                    sampled.append(len(self.crash_points))
            self.crash_points.append(CrashPoint(pending.point, len(pending.units), legal,
                                                sum(c.enumerated for c in found), tuple(found)))
        if sampled and self.budget is not None:
            yield from self._fill(sampled, rng)

    def _state(self, pending: Pending, lost: Lost, class_: str) -> CrashState:
        content = pending.key(lost)
        markers = self.markers(pending.point) if self.markers is not None else ""
        duplicate = not self._keys.add(verdict_key(content, markers))
        self._enumerated += 1
        return CrashState(pending.point, pending.name(lost), content, markers, duplicate,
                          class_, lost, StateImage(pending, lost))

    def _emit(self, pending: Pending, choices: Iterable[Lost], class_: str,
              limit: float = math.inf, seen: set[int] | None = None) -> Emitted[int]:
        """Yield the states of `choices` (at most `limit`, none twice); return how many.

        `seen` holds the hashes of the choices already made at this point, not
        the choices: a lost set of a point with thousands of pending units is
        as large (a 64-bit collision would skip one state, about once in 10^10
        points of a million states)."""
        here = 0
        for lost in choices:
            if here >= limit:
                break
            if seen is not None:
                mark = hash(lost)
                if mark in seen:
                    continue
                seen.add(mark)
            here += 1
            yield self._state(pending, lost, class_)
        return here

    def _systematic(self, pending: Pending, cap: int) -> Emitted[list[ClassCount]]:
        """Each class in turn, the point's cap shared among them (water-filled)."""
        found: list[ClassCount] = []
        seen: set[int] = set()
        todo = classes(pending)
        left = cap
        for i, cls in enumerate(todo):
            sizes = [c.size for c in todo[i:]]
            level = water_level(sizes, left, floor=0)
            # A share of nothing still lets the earlier classes take one state each.
            quota = cls.size if level is None else min(cls.size, max(level, left > 0))
            here = yield from self._emit(pending, members(pending, cls.name), cls.name,
                                         quota, seen)
            found.append(ClassCount(cls.name, cls.size, here))
            left = max(0, left - here)
        return found

    def _sample(self, pending: Pending, rng: random.Random, wanted: int) -> Emitted[int]:
        """Up to `wanted` distinct uniform samples of the point's legal states."""
        seen: set[int] = set()  # hashes, as in `_emit`
        draws = 0
        while len(seen) < wanted and draws < DRAWS_PER_SAMPLE * wanted:
            draws += 1
            lost = pending.space.sample(rng)
            mark = hash(lost)
            if mark not in seen:
                seen.add(mark)
                yield self._state(pending, lost, "random")
        return len(seen)

    def _fill(self, sampled: list[int], rng: random.Random) -> Iterator[CrashState]:
        """Random samples of the systematically explored points, until the budget is spent."""
        assert self.budget is not None
        for _ in range(RANDOM_PASSES):
            left = self.budget - len(self._keys)
            if left <= 0:
                return
            quota = -(-left // len(sampled))
            by_point = {self.crash_points[i].point: i for i in sampled}
            before = len(self._keys)
            for pending in self._pendings(frozenset(by_point)):
                if len(self._keys) >= self.budget:
                    break
                at = by_point[pending.point]
                cp = self.crash_points[at]
                want = min(quota, self.budget - len(self._keys))
                here = 0
                for state in self._sample(pending, rng, want):
                    if not state.duplicate:  # a repeat adds nothing the report needs
                        here += 1
                        yield state
                    else:
                        self._enumerated -= 1
                self.crash_points[at] = _add_random(cp, here)
            if len(self._keys) == before:
                return  # nothing new to draw


def _add_random(cp: CrashPoint, here: int) -> CrashPoint:
    classes_ = list(cp.classes)
    for i, c in enumerate(classes_):
        if c.name == "random":
            classes_[i] = ClassCount("random", c.size, c.enumerated + here)
            break
    else:
        classes_.append(ClassCount("random", cp.legal, here))
    return replace(cp, enumerated=cp.enumerated + here, classes=tuple(classes_))
