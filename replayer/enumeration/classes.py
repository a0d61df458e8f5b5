"""Systematic classes of states at one crash point, for points too large to enumerate whole.

Each class is a family of small perturbations of the all-kept state (what
a power cut most often leaves, and where a program's mistakes show first):

- `all-kept`: every pending unit persisted;
- `all-lost`: everything that could be lost was;
- `one-lost`: each unit lost alone (with whatever cannot persist without it:
  ALICE's omit-one);
- `torn-write`: each multi-page write torn alone, every subset of its pages
  kept and the rest of the point kept (a write too large for that keeps its
  prefixes, suffixes, and each page lost or kept alone);
- `one-kept`: each unit kept alone, everything else lost;
- `pair`: each ordered pair, an earlier unit lost while a later one is kept
  (new states only where the model ties units together).

`classes(pending)` lists them with their sizes; `members(...)` generates a
class's lost sets lazily, in a fixed order. Pure: no I/O, no keys.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from powercut.replayer.models.base import Pending
from powercut.replayer.space import Lost

CLASS_ORDER = ("all-kept", "all-lost", "one-lost", "torn-write", "one-kept", "pair")
WHOLE_TEAR = 8  # a write of at most this many pages is torn in every subset (2^8 states)


@dataclass(frozen=True)
class StateClass:
    """A class at one point: its name and how many states it has (before dedup)."""

    name: str
    size: int


def torn_writes(pending: Pending) -> list[tuple[int, tuple[int, ...]]]:
    """(write seq, its pending page units) for each write with at least two, oldest first."""
    pages: dict[int, list[int]] = {}
    for i, unit in enumerate(pending.units):
        if not unit.is_op:
            for seq in unit.writes:
                pages.setdefault(seq, []).append(i)
    return [(seq, tuple(units)) for seq, units in sorted(pages.items()) if len(units) > 1]


def _tear_size(k: int) -> int:
    return (1 << k) - 1 if k <= WHOLE_TEAR else 4 * k - 2


def _order(pending: Pending) -> list[int]:
    """Units, latest operation first (recent work is what a crash most often loses)."""
    return sorted(range(len(pending.units)), key=lambda i: (-pending.units[i].seq, i))


def classes(pending: Pending) -> list[StateClass]:
    n = len(pending.units)
    pairs = 0 if pending.space.free else n * (n - 1) // 2
    sizes = {"all-kept": 1, "all-lost": 1 if n else 0, "one-lost": n,
             "torn-write": sum(_tear_size(len(p)) for _, p in torn_writes(pending)),
             "one-kept": n, "pair": pairs}
    return [StateClass(name, sizes[name]) for name in CLASS_ORDER]


def members(pending: Pending, name: str) -> Iterator[Lost]:
    """The lost sets of class `name` at this point (legal; repeats possible across classes)."""
    space = pending.space
    empty: Lost = frozenset()
    if name == "all-kept":
        yield empty
    elif name == "all-lost" and pending.units:
        yield space.all_lost()
    elif name == "one-lost":
        for i in _order(pending):
            yield space.lose(empty, (i,))
    elif name == "torn-write":
        for _, units in reversed(torn_writes(pending)):
            for kept in _tear(units):
                yield space.lose(empty, [u for u in units if u not in kept])
    elif name == "one-kept":
        everything = space.all_lost()
        for i in _order(pending):
            yield space.keep(everything, (i,))
    elif name == "pair" and not space.free:
        order = sorted(range(len(pending.units)), key=lambda i: (pending.units[i].seq, i))
        for gap in range(1, len(order)):
            for a, b in zip(order, order[gap:], strict=False):
                lost = space.lose(empty, (a,))
                if b not in lost:
                    yield lost


def _tear(units: tuple[int, ...]) -> Iterator[frozenset[int]]:
    """Kept subsets of a write's pages, never all of them (that is the all-kept state)."""
    k = len(units)
    if k <= WHOLE_TEAR:
        for size in range(k):
            for kept in itertools.combinations(units, size):
                yield frozenset(kept)
        return
    for cut in range(1, k):
        yield frozenset(units[:cut])  # a prefix reached the disk
        yield frozenset(units[cut:])  # a suffix did
    for u in units:
        yield frozenset(units) - {u}  # one page lost
        yield frozenset((u,))  # one page kept
