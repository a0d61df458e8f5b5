"""What a crash state looks like on disk, and its content key.

An `Image` is the list of entries (path, kind, mode, size, pages or symlink
target) that `materialise` writes out. It is built per crash state, so it
must stay small: page mappings are read-only views over page data shared
with the model (an `Overlay` puts a state's kept pages over the durable
ones), never copies.

The content key of a tree is a sum (mod 2**256) of one digest per path, and
a file's digest takes the sum of its page hashes (see `pages.py`), so a
state's key follows from the all-lost key by a few additions for the files
its kept units touch. Equal trees give equal keys whatever crash point or
model built them; this module must never hash whole files per state.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from powercut.replayer.pages import EMPTY_PAGES, HASH_MOD, FrozenPages


@dataclass(frozen=True, slots=True)
class Entry:
    """One path of a crash state. `link_to` names an earlier path of the same file."""

    path: str
    kind: Literal["file", "dir", "symlink"]
    mode: int
    size: int = 0
    pages: Mapping[int, bytes] = field(default_factory=lambda: EMPTY_PAGES)
    target: str = ""
    link_to: str | None = None


@dataclass(frozen=True, slots=True)
class Image:
    """A whole crash state: entries with parents before children."""

    page_size: int
    entries: tuple[Entry, ...]

    @property
    def files(self) -> int:
        return sum(1 for e in self.entries if e.kind == "file")

    @property
    def bytes(self) -> int:
        return sum(e.size for e in self.entries if e.kind == "file")


class Overlay(Mapping[int, bytes]):
    """Pages of `base` with `top` laid over them; a None in `top` removes the page."""

    __slots__ = ("_base", "_top")

    def __init__(self, base: Mapping[int, bytes], top: Mapping[int, bytes | None]) -> None:
        self._base = base
        self._top = top

    def __getitem__(self, index: int) -> bytes:
        if index in self._top:
            page = self._top[index]
            if page is None:
                raise KeyError(index)
            return page
        return self._base[index]

    def __iter__(self) -> Iterator[int]:
        for index in self._base:
            if index not in self._top:
                yield index
        for index, page in self._top.items():
            if page is not None:
                yield index

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __reduce__(self) -> tuple[type, tuple[dict[int, bytes]]]:
        return (dict, (dict(self),))


def differing_pages(a: Mapping[int, bytes], b: Mapping[int, bytes]) -> set[int]:
    """The indices whose page differs between two page mappings (an absent page is zeros).

    Two states of one crash point share their durable pages and differ only in the
    overlays of kept pages: then only the overlays are compared, whatever the file's size
    (a 1 GiB file with 4 pages pending costs 4 lookups). Pages are compared by identity
    first, then by value."""
    if a is b:
        return set()
    if isinstance(a, Overlay) or isinstance(b, Overlay):
        a_base, a_top = (a._base, a._top) if isinstance(a, Overlay) else (a, {})
        b_base, b_top = (b._base, b._top) if isinstance(b, Overlay) else (b, {})
        candidates = differing_pages(a_base, b_base) | a_top.keys() | b_top.keys()
        return {i for i in candidates if a.get(i) != b.get(i)}
    da = a._pages if isinstance(a, FrozenPages) else a
    db = b._pages if isinstance(b, FrozenPages) else b
    if da is db:
        return set()
    out = {i for i, page in da.items() if db.get(i) is not page and db.get(i) != page}
    out.update(i for i in db if i not in da)
    return out


def page_count(pages: Mapping[int, bytes]) -> int:
    """About how many pages a mapping holds (an overlay's removals not subtracted): O(1)."""
    if isinstance(pages, Overlay):
        return page_count(pages._base) + len(pages._top)
    return len(pages)


def pages_apart(a: Mapping[int, bytes], b: Mapping[int, bytes]) -> int:
    """About how many pages differ between `a` and `b`, cheaply: exact where they share
    their maps (one crash point's states), else from their page counts and a few pages
    compared at either end (all of them, when those differ: two files of garbage of the same
    size are not the same file)."""
    if a is b:
        return 0
    if isinstance(a, Overlay) and isinstance(b, Overlay) and a._base is b._base:
        return len(a._top.keys() ^ b._top.keys()) + sum(
            1 for i in a._top.keys() & b._top.keys() if a._top[i] is not b._top[i])
    da = a._pages if isinstance(a, FrozenPages) else a
    db = b._pages if isinstance(b, FrozenPages) else b
    if da is db:
        return 0
    na, nb = page_count(a), page_count(b)
    for index in (*_ends(a), *_ends(b)):
        one, other = a.get(index), b.get(index)
        if one is not other and one != other:
            return max(na, nb)
    return abs(na - nb)


def _ends(pages: Mapping[int, bytes]) -> tuple[int, ...]:
    """The first and last index of a page map in its own order (an overlay's base and top)."""
    if isinstance(pages, Overlay):
        return (*_ends(pages._base), *_ends(pages._top))  # type: ignore[arg-type]
    inner = pages._pages if isinstance(pages, FrozenPages) else pages
    if not inner:
        return ()
    if isinstance(inner, dict):
        return (next(iter(inner)), next(reversed(inner)))
    return (next(iter(inner)),)


def entry_digest(path: str, kind: str, mode: int, size: int, content: int | str,
                 link_to: str | None = None) -> int:
    """Digest of one path: `content` is a file's page-hash sum or a symlink's target;
    `link_to` the earlier name of the same file (hard links are part of a state)."""
    link = "" if link_to is None else f"\0link\0{link_to}"
    blob = f"{path}\0{kind}\0{mode}\0{size}\0{content}{link}".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(blob, digest_size=32).digest(), "little")


# Most paths are unchanged from one crash point to the next: the per-point
# (not per-state) digests go through this bounded cache.
point_digest = functools.lru_cache(maxsize=1 << 14)(entry_digest)


def digest_of(entry: Entry, page_sum: int = 0) -> int:
    content: int | str = entry.target if entry.kind == "symlink" else page_sum
    return point_digest(entry.path, entry.kind, entry.mode, entry.size, content, entry.link_to)


def key_hex(total: int) -> str:
    """The printable key of a tree whose path digests sum to `total`."""
    return hashlib.blake2b((total % HASH_MOD).to_bytes(32, "little"), digest_size=16).hexdigest()
