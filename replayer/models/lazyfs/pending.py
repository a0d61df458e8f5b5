"""The lazyfs model's view of one crash point: keys and images of page choices.

Built once per crash point by `model.py`; then every state of the point is
a few additions away from the all-lost or the all-kept form, whichever is
nearer: a state is worked out from its smaller side (its lost pages, or its
kept ones), so a state with 4000 pending pages of which 2 are lost costs as
little as one with 2 kept. Nothing here copies page data or hashes a whole
file.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from powercut.replayer.image import Entry, Image, Overlay, entry_digest, key_hex, point_digest
from powercut.replayer.models.base import Pending
from powercut.replayer.pages import HASH_MOD
from powercut.replayer.space import Lost, free_space
from powercut.replayer.state import StateName, Unit


@dataclass(frozen=True, slots=True)
class PageChoice:
    """One pending page and its latest content."""

    page: int
    latest: bytes | None
    delta: int  # page hash of latest minus page hash of durable content
    high: int  # the file's size if only this page is kept past the durable end


@dataclass(frozen=True, slots=True)
class PendingFile:
    """A file's pending pages, independent of the crash point (cached while it is unchanged)."""

    units: tuple[Unit, ...]
    choices: tuple[PageChoice, ...]  # one per unit, same order (pages ascending)
    pages: tuple[int, ...]
    all_size: int  # size with every pending page kept
    all_sum: int  # page-hash sum with every pending page kept
    by_high: tuple[int, ...]  # positions in `choices`, highest `high` first


@dataclass(frozen=True, slots=True)
class FileAtCrash:
    """A file with pending pages at one crash point. Its units are contiguous (units
    sort by path, page), from `first_unit` on."""

    path: str  # the name its units use (its first path)
    entries: tuple[int, ...]  # indices of all its paths (hard links) in the image entries
    size: int  # durable (all-lost) size
    page_sum: int  # durable (all-lost) page-hash sum
    first_unit: int
    pending: PendingFile


class LazyPending(Pending):
    def __init__(self, point: int, page_size: int, entries: tuple[Entry, ...], base_total: int,
                 files: tuple[FileAtCrash, ...]) -> None:
        self.point = point
        self.units = tuple(u for f in files for u in f.pending.units)
        self._page_size = page_size
        self._entries = entries
        self._files = files
        self._choices = tuple(c for f in files for c in f.pending.choices)
        self._unit_file = tuple(fi for fi, f in enumerate(files) for _ in f.pending.units)
        self._unit_page = tuple(u.page for u in self.units)
        self._segment = _segments(self._unit_file, self._unit_page)
        self._base_total = base_total
        self._lost_digest = [self._digest(f, f.size, f.page_sum, point_digest) for f in files]
        self._all_digest = [
            self._digest(f, max(f.size, f.pending.all_size), f.pending.all_sum, point_digest)
            for f in files]
        self._all_total = base_total + sum(self._all_digest) - sum(self._lost_digest)
        self.space = free_space(len(self.units))

    def _digest(self, f: FileAtCrash, size: int, page_sum: int,
                digest: Callable[..., int] = entry_digest) -> int:
        total = 0
        for i in f.entries:
            e = self._entries[i]
            total += digest(e.path, "file", e.mode, size, page_sum % HASH_MOD, e.link_to)
        return total

    def _by_file(self, indices: Sequence[int]) -> dict[int, Sequence[int]]:
        """Ascending unit indices grouped by file (each group ascending)."""
        unit_file = self._unit_file
        if not indices:
            return {}
        first = unit_file[indices[0]]
        if first == unit_file[indices[-1]]:  # the usual case: a file's units are contiguous
            return {first: indices}
        grouped: dict[int, list[int]] = {}
        for index in indices:
            grouped.setdefault(unit_file[index], []).append(index)
        return grouped  # type: ignore[return-value]

    def name(self, lost: Lost) -> StateName:
        """`Pending.name` from the runs of the sorted lost units: a run of consecutive units
        within one segment (one file's consecutive pages) is one page range. The
        enumeration names every state it emits, with up to thousands of lost pages."""
        if not lost:
            return StateName(self.point, ())
        idx = sorted(lost)
        seg, pages, files = self._segment, self._unit_page, self._unit_file
        ends = [j for j, (a, b) in enumerate(itertools.pairwise(idx), 1)
                if b != a + 1 or seg[a] != seg[b]]
        by_file: dict[int, list[str]] = {}
        for start, end in zip([0, *ends], [*ends, len(idx)], strict=True):
            first, last = pages[idx[start]], pages[idx[end - 1]]
            by_file.setdefault(files[idx[start]], []).append(
                str(first) if first == last else f"{first}-{last}")
        named = sorted((self._files[f].path, ",".join(parts)) for f, parts in by_file.items())
        return StateName(self.point, tuple(f"{path}:{parts}" for path, parts in named))

    def key(self, lost: Lost) -> str:
        choices = self._choices
        if 2 * len(lost) > len(self.units):  # nearer the all-lost form: work from the kept side
            total = self._base_total
            gone = lost
            kept_all = [i for i in range(len(self.units)) if i not in gone]
            for fi, kept in self._by_file(kept_all).items():
                f = self._files[fi]
                size = max(f.size, max(choices[i].high for i in kept))
                page_sum = f.page_sum + sum(choices[i].delta for i in kept)
                total += self._digest(f, size, page_sum) - self._lost_digest[fi]
            return key_hex(total)
        total = self._all_total
        for fi, lost_here in self._by_file(sorted(lost)).items():
            f = self._files[fi]
            gone = {i - f.first_unit for i in lost_here}
            # The highest page kept is among the first len(gone) + 1 by height.
            top = next((j for j in f.pending.by_high[:len(gone) + 1] if j not in gone), None)
            size = f.size if top is None else max(f.size, f.pending.choices[top].high)
            page_sum = f.pending.all_sum - sum(choices[i].delta for i in lost_here)
            total += self._digest(f, size, page_sum) - self._all_digest[fi]
        return key_hex(total)

    def image(self, lost: Lost) -> Image:
        entries = list(self._entries)
        kept_all = [i for i in range(len(self.units)) if i not in lost]
        for fi, kept in self._by_file(kept_all).items():
            f = self._files[fi]
            chosen = [self._choices[i] for i in kept]
            size = max(f.size, max(c.high for c in chosen))
            pages = Overlay(self._entries[f.entries[0]].pages, {c.page: c.latest for c in chosen})
            for i in f.entries:
                old = entries[i]
                entries[i] = Entry(old.path, "file", old.mode, size, pages, link_to=old.link_to)
        return Image(self._page_size, tuple(entries))

    def aliases(self) -> dict[str, str]:
        unit_paths = {f.path for f in self._files}
        return {e.path: e.link_to for e in self._entries
                if e.link_to is not None and e.link_to in unit_paths}


def _segments(files: Sequence[int], pages: Sequence[int]) -> tuple[int, ...]:
    """Per unit, the number of its segment: units of one file with consecutive pages."""
    out: list[int] = []
    current = 0
    for i in range(len(pages)):
        if i and (files[i] != files[i - 1] or pages[i] != pages[i - 1] + 1):
            current += 1
        out.append(current)
    return tuple(out)
