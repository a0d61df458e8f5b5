"""`PageStore` against plain bytes: zeroing ranges (in bulk past 64 whole pages) and cutting.

ALICE's extending truncates put tens of thousands of garbage pages and then
zero them; the store drops whole pages in one pass then. Whatever path it
takes, its bytes and its hash sum must be those of a store written afresh
with the expected bytes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from powercut.replayer.pages import PageStore

PS = 512
SPAN = 200 * PS  # room for ranges of more than 64 whole pages

writes = st.lists(st.tuples(st.integers(0, SPAN), st.binary(min_size=1, max_size=90 * PS)),
                  max_size=6)
ranges = st.lists(st.tuples(st.integers(0, SPAN), st.integers(0, SPAN)), max_size=4)


def _fresh(data: bytes) -> PageStore:
    store = PageStore(PS)
    store.write(0, data)
    return store


@settings(max_examples=150, deadline=None)
@given(writes, ranges, st.booleans())
def test_zeroed_ranges_read_and_hash_as_written_afresh(done: list[tuple[int, bytes]],
                                                       zeroed: list[tuple[int, int]],
                                                       snapshot: bool) -> None:
    store = PageStore(PS)
    model = bytearray(2 * SPAN + 90 * PS)
    for offset, data in done:
        store.write(offset, data)
        model[offset:offset + len(data)] = data
    frozen = store.snapshot() if snapshot else None
    before = dict(frozen) if frozen is not None else None
    for offset, length in zeroed:
        store.zero_range(offset, length)
        model[offset:offset + length] = bytes(length)
    assert store.read(len(model)) == bytes(model)
    assert store.hash_sum == _fresh(bytes(model)).hash_sum
    if frozen is not None:
        assert dict(frozen) == before  # a snapshot never sees a later change


@settings(max_examples=100, deadline=None)
@given(writes, st.integers(0, SPAN))
def test_cut_zeroes_everything_from_the_size_on(done: list[tuple[int, bytes]], size: int
                                                ) -> None:
    store = PageStore(PS)
    model = bytearray(2 * SPAN + 90 * PS)
    for offset, data in done:
        store.write(offset, data)
        model[offset:offset + len(data)] = data
    store.cut(size)
    model[size:] = bytes(len(model) - size)
    assert store.read(len(model)) == bytes(model)
    assert store.hash_sum == _fresh(bytes(model)).hash_sum
