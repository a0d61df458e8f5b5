"""The legal states of one crash point: which sets of pending units may be lost together.

A persistence model names a crash point's pending units (indices 0..n-1)
and a `Space`: the product of independent `Component`s, each over its own
units. A state is the set of units *lost* (not reaching the disk); every
other pending unit is kept. Constraints live inside components ("this unit
persists only if that one did"), so the product's legal states are exactly
the tuples of legal local choices, and:

- the count is the product of the components' counts (exact big integers,
  never a brute force over 2^n);
- every legal state is generated directly, never filtered out of 2^n;
- a uniform sample is a uniform sample of each component;
- "lose unit u, and whatever cannot persist without it" (`lose`) and "keep
  unit u, and whatever it needs" (`keep`) stay inside u's component.

Three shapes cover the models: `Free` (independent units: pages), `Groups`
(a short explicit list of legal choices: the pieces of one operation) and
`Cut` (a journal whose durable part is a prefix, with units that need a
journal entry or are needed by one). This module is pure combinatorics
over indices; it knows nothing of files or trees.
"""

from __future__ import annotations

import abc
import bisect
import functools
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

Lost = frozenset[int]


class Component(abc.ABC):
    """Independent part of a crash point's state: its units and their legal local choices."""

    units: tuple[int, ...]

    @abc.abstractmethod
    def count(self) -> int:
        """Number of legal local choices."""

    @abc.abstractmethod
    def choices(self) -> Iterator[Lost]:
        """Every legal local lost set once, fewest lost first where cheap."""

    @abc.abstractmethod
    def sample(self, rng: random.Random) -> Lost:
        """A uniformly drawn legal local lost set."""

    @abc.abstractmethod
    def legal(self, lost: Lost) -> bool:
        """Whether a local lost set (a subset of `units`) is legal."""

    @abc.abstractmethod
    def lose(self, lost: Lost, unit: int) -> Lost:
        """`lost` plus `unit` plus every unit that cannot persist without them."""

    @abc.abstractmethod
    def keep(self, lost: Lost, unit: int) -> Lost:
        """`lost` minus `unit` minus every unit `unit` needs (legal when `lost` was)."""

    def all_lost(self) -> Lost:
        """The largest legal lost set (everything not forced to persist)."""
        lost: Lost = frozenset()
        for unit in self.units:
            lost = self.lose(lost, unit)
        return lost


@dataclass(frozen=True)
class Free(Component):
    """Units that persist or not independently of each other (pages, under every model)."""

    units: tuple[int, ...]

    def count(self) -> int:
        return 1 << len(self.units)

    def choices(self) -> Iterator[Lost]:
        for size in range(len(self.units) + 1):
            for lost in itertools.combinations(self.units, size):
                yield frozenset(lost)

    def sample(self, rng: random.Random) -> Lost:
        bits = rng.getrandbits(len(self.units)) if self.units else 0
        return frozenset(u for i, u in enumerate(self.units) if bits >> i & 1)

    def legal(self, lost: Lost) -> bool:
        return True

    def lose(self, lost: Lost, unit: int) -> Lost:
        return lost | {unit}

    def keep(self, lost: Lost, unit: int) -> Lost:
        return lost - {unit}

    def all_lost(self) -> Lost:
        return frozenset(self.units)


@dataclass(frozen=True)
class Groups(Component):
    """A few units whose legal lost sets are listed outright (the pieces of one operation).

    `options` holds every legal lost set (subsets of `units`); the list is
    short (a rename in three pieces has at most six), so closures are found
    by scanning it.
    """

    units: tuple[int, ...]
    options: tuple[Lost, ...]

    def count(self) -> int:
        return len(self.options)

    def choices(self) -> Iterator[Lost]:
        return iter(sorted(self.options, key=lambda s: (len(s), sorted(s))))

    def sample(self, rng: random.Random) -> Lost:
        return self.options[rng.randrange(len(self.options))]

    def legal(self, lost: Lost) -> bool:
        return lost in self.options

    def lose(self, lost: Lost, unit: int) -> Lost:
        # The legal superset of lost | {unit} that loses the fewest units.
        want = lost | {unit}
        return min((o for o in self.options if want <= o), key=len, default=frozenset(self.units))

    def keep(self, lost: Lost, unit: int) -> Lost:
        # The legal subset of lost - {unit} that keeps the fewest extra units.
        want = lost - {unit}
        return max((o for o in self.options if o <= want), key=len, default=frozenset())


@dataclass(frozen=True)
class Cut(Component):
    """A journal of `entries` (in order) of which a prefix persists, and units tied to it.

    The durable entries are a prefix: keeping `c` of them keeps entries
    0..c-1. A tied unit `t` with `after[t] = b` persists only if at least `b`
    entries do (its write needs their metadata); with `before[t] = r` it
    must persist once `r` entries do (an entry needs it). Between the two
    it is free. Count: sum over c of 2^(units free at c).
    """

    entries: tuple[int, ...]
    tied: tuple[int, ...]
    after: tuple[int, ...]  # per tied unit: entries that must persist for it to (0: none)
    before: tuple[int, ...]  # per tied unit: entries whose persistence forces it (len+1: none)

    @property
    def units(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.entries + self.tied

    def _free(self, c: int) -> list[int]:
        return [t for t, b, r in zip(self.tied, self.after, self.before, strict=True)
                if b <= c < r]

    def _state(self, c: int, free_lost: Iterable[int]) -> Lost:
        lost = set(self.entries[c:])
        lost.update(t for t, b in zip(self.tied, self.after, strict=True) if b > c)
        lost.update(free_lost)
        return frozenset(lost)

    def _counts(self) -> list[int]:
        return [1 << len(self._free(c)) for c in range(len(self.entries) + 1)]

    def count(self) -> int:
        return sum(self._counts())

    def choices(self) -> Iterator[Lost]:
        for c in range(len(self.entries), -1, -1):  # most entries kept first
            free = self._free(c)
            for size in range(len(free) + 1):
                for lost in itertools.combinations(free, size):
                    yield self._state(c, lost)

    def sample(self, rng: random.Random) -> Lost:
        counts = self._counts()
        c = bisect.bisect_right(list(itertools.accumulate(counts)), rng.randrange(sum(counts)))
        free = self._free(c)
        bits = rng.getrandbits(len(free)) if free else 0
        return self._state(c, [t for i, t in enumerate(free) if bits >> i & 1])

    def _cut_of(self, lost: Lost) -> int:
        return next((i for i, e in enumerate(self.entries) if e in lost), len(self.entries))

    def legal(self, lost: Lost) -> bool:
        c = self._cut_of(lost)
        if any(e not in lost for e in self.entries[c:]):
            return False
        for t, b, r in zip(self.tied, self.after, self.before, strict=True):
            if b > c and t not in lost:
                return False
            if r <= c and t in lost:
                return False
        return True

    def lose(self, lost: Lost, unit: int) -> Lost:
        c = self._cut_of(lost)
        if unit in self.entries:
            c = min(c, self.entries.index(unit))
        else:
            c = min(c, self.before[self.tied.index(unit)] - 1)
        return self._state(c, (lost | {unit}) & set(self._free(c)))

    def keep(self, lost: Lost, unit: int) -> Lost:
        c = self._cut_of(lost)
        if unit in self.entries:
            c = max(c, self.entries.index(unit) + 1)
        else:
            c = max(c, self.after[self.tied.index(unit)])
        return self._state(c, (lost - {unit}) & set(self._free(c)))


@dataclass(frozen=True)
class Space:
    """The legal states of one crash point: the product of its components."""

    n: int
    components: tuple[Component, ...]

    def count(self) -> int:
        total = 1
        for comp in self.components:
            total *= comp.count()
        return total

    @functools.cached_property
    def free(self) -> bool:
        """True when every unit is independent (the count is 2^n)."""
        return all(isinstance(c, Free) for c in self.components)

    def choices(self) -> Iterator[Lost]:
        """Every legal state once. With only independent units: fewest lost first."""
        if self.free:
            yield from Free(tuple(range(self.n))).choices()
            return
        for parts in itertools.product(*(c.choices() for c in self.components)):
            yield frozenset().union(*parts)

    def sample(self, rng: random.Random) -> Lost:
        return frozenset().union(*(c.sample(rng) for c in self.components))

    def legal(self, lost: Iterable[int]) -> bool:
        lost = frozenset(lost)
        if any(not 0 <= u < self.n for u in lost):
            return False
        return all(c.legal(lost & frozenset(c.units)) for c in self.components)

    @functools.cached_property
    def _owner(self) -> dict[int, int]:
        """Unit -> index of its component."""
        return {u: i for i, c in enumerate(self.components) for u in c.units}

    def lose(self, lost: Iterable[int], units: Iterable[int]) -> Lost:
        """`lost` with `units` lost too, and every unit that cannot persist without them."""
        if self.free:
            return frozenset(lost).union(units)
        return self._close(lost, units, "lose")

    def keep(self, lost: Iterable[int], units: Iterable[int]) -> Lost:
        """`lost` with `units` kept, and every unit they need kept too."""
        if self.free:
            return frozenset(lost).difference(units)
        return self._close(lost, units, "keep")

    def _close(self, lost: Iterable[int], units: Iterable[int], how: str) -> Lost:
        """Apply `Component.lose` or `.keep` unit by unit, each component's share at once
        (linear in the units, however many one component holds)."""
        out = set(lost)
        owner = self._owner
        by_component: dict[int, list[int]] = {}
        for unit in units:
            by_component.setdefault(owner[unit], []).append(unit)
        for index, mine in by_component.items():
            comp = self.components[index]
            local = frozenset(u for u in out if owner.get(u) == index)
            out -= local
            step = comp.lose if how == "lose" else comp.keep
            for unit in mine:
                local = step(local, unit)
            out |= local
        return frozenset(out)

    def all_lost(self) -> Lost:
        return frozenset().union(*(c.all_lost() for c in self.components))


def free_space(n: int) -> Space:
    """Every one of `n` units independent (the lazyfs model's pages)."""
    return Space(n, (Free(tuple(range(n))),) if n else ())


