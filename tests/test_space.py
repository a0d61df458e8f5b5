"""The laws of legal-state spaces: counts, generation, samples and closures, against brute force.

A space is built from random components (independent units, explicit
groups, journal cuts with tied units); on spaces of up to 12 units a
brute-force oracle (every subset, filtered by `legal`) must agree with the
direct counting and generation, and the closures must be legal and tight.
"""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from powercut.replayer.space import Cut, Free, Groups, Space, free_space
from tests.brute import brute_force


@st.composite
def spaces(draw: st.DrawFn) -> Space:
    n = 0
    comps = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["free", "groups", "cut"]))
        if kind == "free":
            k = draw(st.integers(1, 3))
            comps.append(Free(tuple(range(n, n + k))))
            n += k
        elif kind == "groups":
            k = draw(st.integers(1, 3))
            units = tuple(range(n, n + k))
            every = [frozenset(u for i, u in enumerate(units) if m >> i & 1)
                     for m in range(1 << k)]
            options = draw(st.lists(st.sampled_from(every), min_size=1, unique=True))
            # The shapes models use: losing nothing and losing everything are always legal.
            options = list({frozenset(), frozenset(units), *options})
            comps.append(Groups(units, tuple(options)))
            n += k
        else:
            entries = tuple(range(n, n + draw(st.integers(0, 3))))
            n += len(entries)
            tied = tuple(range(n, n + draw(st.integers(0, 3))))
            n += len(tied)
            after, before = [], []
            for _ in tied:
                b = draw(st.integers(0, len(entries)))
                after.append(b)
                before.append(draw(st.integers(b + 1, len(entries) + 1)))
            comps.append(Cut(entries, tied, tuple(after), tuple(before)))
    return Space(n, tuple(comps))


@settings(max_examples=300, deadline=None)
@given(space=spaces())
def test_count_and_choices_equal_brute_force(space: Space) -> None:
    truth = brute_force(space)
    generated = list(space.choices())
    assert len(generated) == len(set(generated)) == space.count() == len(truth)
    assert set(generated) == truth
    assert frozenset() in truth  # everything kept is always legal
    assert space.all_lost() in truth
    assert all(len(space.all_lost()) >= len(lost) for lost in truth)


@settings(max_examples=200, deadline=None)
@given(space=spaces(), seed=st.integers(0, 1000))
def test_samples_are_legal_and_reproducible(space: Space, seed: int) -> None:
    draws = [space.sample(random.Random(seed)) for _ in range(3)]
    assert len(set(draws)) == 1  # the same seed, the same sample
    rng = random.Random(seed)
    assert all(space.legal(space.sample(rng)) for _ in range(20))


def test_samples_are_uniform() -> None:
    space = Space(5, (Groups((0, 1), (frozenset(), frozenset({1}), frozenset({0, 1}))),
                      Cut((2, 3), (4,), (1,), (3,))))
    legal = brute_force(space)
    rng = random.Random(7)
    counts = Counter(space.sample(rng) for _ in range(len(legal) * 2000))
    assert set(counts) == legal
    expected = 2000
    assert all(abs(c - expected) < 0.15 * expected for c in counts.values()), counts


@settings(max_examples=300, deadline=None)
@given(space=spaces(), data=st.data())
def test_closures_are_legal_and_tight(space: Space, data) -> None:
    legal = sorted(brute_force(space), key=sorted)
    if not space.n:
        return
    start = data.draw(st.sampled_from(legal))
    unit = data.draw(st.integers(0, space.n - 1))
    lost = space.lose(start, [unit])
    assert space.legal(lost) and unit in lost and start <= lost
    # Tight: no legal state between start | {unit} and `lost` loses fewer units.
    assert not [s for s in legal if start | {unit} <= s and len(s) < len(lost)]
    kept = space.keep(start, [unit])
    assert space.legal(kept) and unit not in kept and kept <= start
    assert not [s for s in legal if s <= start - {unit} and len(s) > len(kept)]


def test_free_space_counts_big_without_enumerating() -> None:
    space = free_space(4000)
    assert space.count() == 2 ** 4000
    assert space.free
    assert space.lose(frozenset(), [17]) == {17}
    assert len(space.all_lost()) == 4000


def test_cut_counts_by_cut_points() -> None:
    # Two journal entries; a page tied after the first one, needed by the second.
    cut = Cut((0, 1), (2,), (1,), (2,))
    # c=0: page lost; c=1: page free (2); c=2: page kept.
    assert cut.count() == 1 + 2 + 1
    assert set(cut.choices()) == {frozenset({0, 1, 2}), frozenset({1, 2}), frozenset({1}),
                                  frozenset()}
