"""ALICE's garbage: what the new bytes of an append or an extending truncate may hold.

Deterministic, so states are reproducible: letters and digits drawn from
SHAKE-256 of the unit and the page. Pages and their hashes are kept, and
whole runs of pages are kept apart, since every state that keeps a garbage
unit is rebuilt from them.
"""

from __future__ import annotations

import functools
import hashlib

from powercut.replayer.pages import page_hash

ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ALNUM_OF = bytes(ALNUM[b % len(ALNUM)] for b in range(256))
GARBAGE_PAGES_KEPT = 1 << 10  # 4 MiB of 4 KiB pages (whole runs are kept apart)


@functools.lru_cache(maxsize=GARBAGE_PAGES_KEPT)
def garbage(seq: int, index: int, page_size: int) -> tuple[bytes, int]:
    """The deterministic garbage of unit `garbage:seq` in page `index` (ALICE's alphabet),
    and its page hash. Kept: a state that keeps a garbage unit is rebuilt for many states
    (a 64 MB file extended by one truncate is 16,384 pages of it)."""
    h = hashlib.shake_256(b"powercut-garbage:%d:%d" % (seq, index)).digest(page_size)
    page = h.translate(_ALNUM_OF)
    return page, page_hash(index, page)


def garbage_page(seq: int, index: int, page_size: int) -> bytes:
    return garbage(seq, index, page_size)[0]


@functools.lru_cache(maxsize=4)
def garbage_run(seq: int, first: int, last: int, page_size: int
                ) -> tuple[dict[int, bytes], dict[int, int], int]:
    """Whole garbage pages `first`..`last` of unit `garbage:seq`, their hashes and sum."""
    pages: dict[int, bytes] = {}
    hashes: dict[int, int] = {}
    for index in range(first, last + 1):
        pages[index], hashes[index] = garbage(seq, index, page_size)
    return pages, hashes, sum(hashes.values())
