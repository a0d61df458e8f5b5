"""Sparse, page-addressed file contents with a running content hash.

A `PageStore` holds a file's bytes as {page index: page bytes}, every page
exactly `page_size` long and zero pages absent, so a 64 MB truncated WAL
costs nothing. It keeps a sum of per-page hashes up to date as pages change:
a crash state's content key is then a few additions, never a re-hash of a
whole file. Page bytes are immutable `bytes` shared freely between stores
and snapshots; this module must never copy page data it does not change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

HASH_MOD = 1 << 256
_ZERO_PAGES: dict[int, bytes] = {}


def zero_page(page_size: int) -> bytes:
    page = _ZERO_PAGES.get(page_size)
    if page is None:
        page = _ZERO_PAGES[page_size] = bytes(page_size)
    return page


def page_hash(index: int, page: bytes | None) -> int:
    """Hash of one page at its index; an absent (zero) page contributes 0."""
    if page is None:
        return 0
    # sha256 (SHA-NI on x86) hashes a 4 KiB page in ~3 us, blake2b in ~5 us.
    h = hashlib.sha256(index.to_bytes(8, "little"))
    h.update(page)  # the same digest as of index + page, without copying the page
    return int.from_bytes(h.digest(), "little")


class FrozenPages(Mapping[int, bytes]):
    """A read-only view of a page dict that its owner promises never to change.

    Unlike MappingProxyType it pickles (as a plain dict), so a crash state's
    image can cross to a worker process.
    """

    __slots__ = ("_pages",)

    def __init__(self, pages: dict[int, bytes]) -> None:
        self._pages = pages

    def __getitem__(self, index: int) -> bytes:
        return self._pages[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self._pages)

    def __len__(self) -> int:
        return len(self._pages)

    def __contains__(self, index: object) -> bool:
        return index in self._pages

    def __reduce__(self) -> tuple[type, tuple[dict[int, bytes]]]:
        return (FrozenPages, (self._pages,))


EMPTY_PAGES = FrozenPages({})


class PageStore:
    """A file's pages, with `hash_sum` = sum of page_hash over present pages.

    `snapshot()` returns a read-only view that later changes never reach
    (copy-on-write: the dict is copied only on the first change after a
    snapshot, so a file that stays still between crash points is shared).
    """

    __slots__ = ("_frozen", "_hashes", "_pages", "hash_sum", "page_size")

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self._pages: dict[int, bytes] = {}
        self._hashes: dict[int, int] = {}
        self._frozen: FrozenPages | None = None
        self.hash_sum = 0

    def copy(self) -> PageStore:
        other = PageStore(self.page_size)
        other._pages = dict(self._pages)
        other._hashes = dict(self._hashes)
        other.hash_sum = self.hash_sum
        return other

    def get(self, index: int) -> bytes | None:
        return self._pages.get(index)

    def hash_of(self, index: int) -> int:
        return self._hashes.get(index, 0)

    def indices(self) -> Iterator[int]:
        return iter(self._pages)

    def __len__(self) -> int:
        return len(self._pages)

    def snapshot(self) -> FrozenPages:
        if self._frozen is None:
            self._frozen = FrozenPages(self._pages)
        return self._frozen

    def _before_change(self) -> None:
        if self._frozen is not None:
            self._pages = dict(self._pages)
            self._hashes = dict(self._hashes)
            self._frozen = None

    def set(self, index: int, page: bytes | None, digest: int | None = None) -> None:
        """Set one page (None or all zeros: absent). `digest` reuses a known hash."""
        self._before_change()
        if page is not None and page.count(0) == len(page):
            page = None
        old = self._hashes.pop(index, 0)
        self._pages.pop(index, None)
        new = 0
        if page is not None:
            new = digest if digest is not None else page_hash(index, page)
            self._pages[index] = page
            self._hashes[index] = new
        self.hash_sum = (self.hash_sum - old + new) % HASH_MOD

    def put_pages(self, pages: Mapping[int, bytes], hashes: Mapping[int, int],
                  total: int) -> None:
        """Set many whole pages at once (none of them zero): `hashes` their page hashes,
        `total` their sum. Linear in C, for a file extended by thousands of pages."""
        self._before_change()
        replaced = self._hashes.keys() & pages.keys()
        old = sum(self._hashes[i] for i in replaced)
        self._pages.update(pages)
        self._hashes.update(hashes)
        self.hash_sum = (self.hash_sum - old + total) % HASH_MOD

    def write(self, offset: int, data: bytes) -> list[int]:
        """Write bytes at `offset`; returns the page indices touched."""
        # `set` inlined: a large write touches thousands of pages, each one
        # page_size long, so "all zeros" is one comparison with the zero page.
        self._before_change()
        ps = self.page_size
        zero = zero_page(ps)
        pages, hashes = self._pages, self._hashes
        total = self.hash_sum
        touched = []
        pos, end = offset, offset + len(data)
        view = memoryview(data)
        while pos < end:
            index, start = divmod(pos, ps)
            n = min(ps - start, end - pos)
            chunk = view[pos - offset:pos - offset + n]
            if n == ps:
                page = bytes(chunk)
            else:
                old = pages.get(index) or zero
                page = b"".join((old[:start], chunk, old[start + n:]))
            total -= hashes.pop(index, 0)
            if page == zero:
                pages.pop(index, None)
            else:
                digest = page_hash(index, page)
                pages[index] = page
                hashes[index] = digest
                total += digest
            touched.append(index)
            pos += n
        self.hash_sum = total % HASH_MOD
        return touched

    def zero_range(self, offset: int, length: int) -> None:
        """Make bytes [offset, offset+length) zero (truncate, punch hole)."""
        ps = self.page_size
        end = offset + length
        first, last = offset // ps, (end - 1) // ps
        if length <= 0:
            return
        # Visit only present pages: the range may span gigabytes of holes.
        if last - first + 1 > len(self._pages):
            candidates = sorted(i for i in self._pages if first <= i <= last)
        else:
            candidates = [i for i in range(first, last + 1) if i in self._pages]
        whole = [i for i in candidates if offset <= i * ps and (i + 1) * ps <= end]
        if len(whole) > 64:
            # An extending truncate over ALICE's garbage zeroes thousands of pages: drop
            # them in one pass over the dicts rather than one `set` each.
            self._drop(whole)
            candidates = [i for i in candidates if i < whole[0] or i > whole[-1]]
        for index in candidates:
            page = self._pages[index]
            lo = max(offset - index * ps, 0)
            hi = min(end - index * ps, ps)
            if lo == 0 and hi == ps:
                self.set(index, None)
            else:
                self.set(index, page[:lo] + bytes(hi - lo) + page[hi:])

    def _drop(self, indices: list[int]) -> None:
        """Remove the present pages `indices` (ascending, contiguous in the store's order)."""
        self._before_change()
        lo, hi = indices[0], indices[-1]
        hashes = self._hashes
        if 2 * len(indices) > len(self._pages):  # most of the file goes: keep the rest
            self._pages = {i: p for i, p in self._pages.items() if i < lo or i > hi}
            self._hashes = {i: h for i, h in hashes.items() if i < lo or i > hi}
            self.hash_sum = sum(self._hashes.values()) % HASH_MOD
            return
        gone = sum(hashes.pop(i) for i in indices)
        for i in indices:
            del self._pages[i]
        self.hash_sum = (self.hash_sum - gone) % HASH_MOD

    def cut(self, size: int) -> None:
        """Zero everything from `size` on (a truncate to `size`)."""
        if self._pages:
            end = (max(self._pages) + 1) * self.page_size
            if end > size:
                self.zero_range(size, end - size)

    def read(self, size: int) -> bytes:
        """The first `size` bytes (tests and final_tree; never used per crash state)."""
        return read_pages(self._pages, size, self.page_size)


def read_pages(pages: Mapping[int, bytes], size: int, page_size: int) -> bytes:
    out = bytearray(size)
    for index, page in pages.items():
        start = index * page_size
        if start < size:
            n = min(page_size, size - start)
            out[start:start + n] = page[:n]
    return bytes(out)
