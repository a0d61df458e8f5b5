"""The brute-force oracle of the enumeration tests: every legal lost set of a tiny space."""

from __future__ import annotations

import itertools

from powercut.replayer.space import Lost, Space


def brute_force(space: Space) -> set[Lost]:
    """Every legal lost set by trying all 2^n subsets (tiny spaces only)."""
    assert space.n <= 16, "brute force is for tests on tiny spaces"
    return {frozenset(s) for size in range(space.n + 1)
            for s in itertools.combinations(range(space.n), size) if space.legal(s)}
