"""Every legal crash state of a trace, streamed lazily and deduplicated.

For each crash point the model names the pending units; this module chooses
which of them persisted: every subset (kept-set size ascending, then
lexicographic over the smaller side: kept units, or lost units once more
than half are kept, which is also what keeps large states cheap), or,
when 2**n exceeds `max_states`, the bounded strategy (every subset with
at most k units lost and every one with at most k kept, the largest k that
fits), recorded in the `CrashPoint` as enumerated vs
possible so a cut is never silent. Each state carries a content key and is
marked `duplicate` when an earlier state had the same tree. Memory grows
with the number of distinct keys and crash points, never with the number of
states; this module must never materialise anything.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

from powercut.errors import PowercutError
from powercut.replayer.models.base import Choice, Pending, PersistenceModel, StateImage
from powercut.replayer.state import BEFORE_FIRST, CrashPoint, CrashState
from powercut.trace import Trace

# Counting the legal subsets under constraints is done by brute force; past
# this many units a model with constraints must bring its own counting.
_MAX_BRUTE_FORCE_UNITS = 22


@dataclass(frozen=True)
class EnumerationStats:
    crash_points: int = 0
    enumerated: int = 0
    distinct: int = 0
    possible: int = 0
    bounded_points: int = 0

    @property
    def coverage(self) -> float:
        """Share of the legal states (before dedup) actually enumerated."""
        return 1.0 if self.possible == 0 else self.enumerated / self.possible


@dataclass(frozen=True)
class Plan:
    """Which kept-set sizes to enumerate at a point of `n` units."""

    n: int
    sizes: tuple[int, ...]
    count: int  # subsets over those sizes (before constraints)

    @property
    def exhaustive(self) -> bool:
        return len(self.sizes) == self.n + 1

    def subsets(self) -> Iterator[Choice]:
        """Kept-set size ascending; within a size, lexicographic over the smaller side."""
        n = self.n
        for size in self.sizes:
            if size <= n - size:
                for kept in itertools.combinations(range(n), size):
                    yield Choice(n, kept)
            else:
                for lost in itertools.combinations(range(n), n - size):
                    yield Choice(n, lost, lost=True)


def plan(n: int, max_states: int | None) -> Plan:
    """All 2**n subsets if they fit in `max_states`, else the largest bounded k that does."""
    if max_states is None or n < max_states.bit_length():  # 2**n <= max_states
        return Plan(n, tuple(range(n + 1)), 1 << n)
    best: tuple[int, ...] = ()
    count = 0
    for k in range(n // 2 + 1):
        sizes = tuple(sorted(set(range(k + 1)) | set(range(n - k, n + 1))))
        total = sum(math.comb(n, s) for s in sizes)
        if total > max_states:
            break
        best, count = sizes, total
    return Plan(n, best, count)


def check_max_states(max_states: int | None) -> None:
    if max_states is not None and (not isinstance(max_states, int) or max_states < 2):
        raise PowercutError(f"--max-states {max_states!r}: must be at least 2 "
                            "(the all-kept and all-lost states of a crash point)")


def check_points(points: Iterable[int] | None, op_count: int) -> frozenset[int] | None:
    """The crash points asked for, all of which must exist in a trace of `op_count` ops."""
    if points is None:
        return None
    if isinstance(points, range) and points.step == 1:
        bad = [p for p in (points.start, points.stop - 1)
               if len(points) and not BEFORE_FIRST <= p < op_count]
        if bad:
            raise PowercutError(f"crash point {bad[0]} does not exist: this trace has "
                                f"points {BEFORE_FIRST}..{op_count - 1}")
    wanted = frozenset(points)
    bad_points = sorted(p for p in wanted if not BEFORE_FIRST <= p < op_count)
    if bad_points:
        raise PowercutError(f"crash point {bad_points[0]} does not exist: this trace has "
                            f"points {BEFORE_FIRST}..{op_count - 1}")
    return wanted


def count_legal(pending: Pending) -> int:
    n = len(pending.units)
    if not pending.constraints:
        return 1 << n
    if n > _MAX_BRUTE_FORCE_UNITS:
        raise PowercutError(f"crash point {pending.seq}: {n} units with constraints is more "
                            f"than this enumerator can count ({_MAX_BRUTE_FORCE_UNITS})")
    return sum(1 for choice in Plan(n, tuple(range(n + 1)), 1 << n).subsets()
               if pending.legal(choice))


class Enumeration:
    """Iterate to stream every `CrashState`; `crash_points` and `stats` fill in as it goes.

    Iterating again starts afresh (and forgets the keys seen before).
    """

    def __init__(self, trace: Trace, model: PersistenceModel, *, max_states: int | None = None,
                 points: Collection[int] | range | None = None) -> None:
        check_max_states(max_states)
        self.trace = trace
        self.model = model
        self.max_states = max_states
        self.points = check_points(points, trace.op_count)
        self.crash_points: list[CrashPoint] = []
        self._stats: Callable[[], EnumerationStats] = EnumerationStats

    @property
    def stats(self) -> EnumerationStats:
        """Counts so far (final once iteration has ended)."""
        return self._stats()

    def __iter__(self) -> Iterator[CrashState]:
        self.crash_points = []
        seen: set[str] = set()
        counts = [0, 0, 0]  # enumerated, possible, bounded points (finished points)
        here = 0
        legal = 0

        def stats() -> EnumerationStats:
            return EnumerationStats(len(self.crash_points) + (here > 0), counts[0], len(seen),
                                    counts[1] + (legal if here else 0),
                                    counts[2] + (here > 0 and here < legal))

        self._stats = stats
        wanted = self.points
        last = None if wanted is None else max(wanted, default=BEFORE_FIRST - 1)
        if last is not None and last < BEFORE_FIRST:
            return
        for pending in self.model.crash_points(
                self.trace, None if wanted is None else wanted.__contains__):
            legal = count_legal(pending)
            here = 0
            # The per-state loop: a point may have hundreds of thousands of states.
            seq, key_of, kept_of = pending.seq, pending.key, pending.kept
            constrained = bool(pending.constraints)
            for choice in plan(len(pending.units), self.max_states).subsets():
                if constrained and not pending.legal(choice):
                    continue
                key = key_of(choice)
                duplicate = key in seen
                if not duplicate:
                    seen.add(key)
                here += 1
                counts[0] += 1
                yield CrashState(seq, kept_of(choice), key, duplicate, StateImage(pending, choice))
            self.crash_points.append(CrashPoint(pending.seq, pending.units, legal, here))
            counts[1] += legal
            counts[2] += here < legal
            here = 0
            if last is not None and pending.seq >= last:
                break
