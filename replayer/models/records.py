"""Pending pages per file, as every model sees them: what was written since the file's last sync.

For each inode, a `PageRecord` per page written since the file's last data
sync: the writes that touched it (seqs), `high` (one past the last byte
written in the page, clipped by truncates), the first of those writes and
the last one that raised `high` (the journal models order a page after the
metadata its write needed). `units` lists them as page units of one crash
point, named by each file's first path there, in path then page order:
the same units `lazyfs` names, so the models' states compare. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from powercut.replayer.models.effects import PageOverlay
from powercut.replayer.state import Unit
from powercut.replayer.tree import Node, Tree


@dataclass(slots=True)
class PageRecord:
    writes: list[int] = field(default_factory=list)
    high: int = 0
    first: int = -1  # seq of the first write since the sync
    raised: int = -1  # seq of the last write that raised `high`
    failed: int | None = None  # the failed sync that left it clean: no sync writes it now


class PageRecords:
    """Pending pages of every inode (by the latest tree's inode numbers)."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.by_ino: dict[int, dict[int, PageRecord]] = {}

    def write(self, ino: int, seq: int, offset: int, length: int) -> list[int]:
        """Record a write; returns the pages it touched."""
        ps = self.page_size
        pages = self.by_ino.setdefault(ino, {})
        end = offset + length
        touched = []
        pos = offset
        while pos < end:
            page = pos // ps
            page_end = min(end, (page + 1) * ps)
            rec = pages.get(page)
            if rec is None:
                rec = pages[page] = PageRecord(first=seq)
            rec.writes.append(seq)
            rec.failed = None  # dirty again: the next sync writes its latest bytes
            if page_end > rec.high:
                rec.high = page_end
                rec.raised = seq
            touched.append(page)
            pos = page_end
        return touched

    def clip(self, ino: int, size: int) -> None:
        """A truncate to `size`: pages past it are gone, the rest end at it at most."""
        pages = self.by_ino.get(ino)
        if not pages:
            return
        for page in [p for p in pages if p * self.page_size >= size]:
            del pages[page]
        for rec in pages.values():
            rec.high = min(rec.high, size)

    def clear(self, ino: int) -> dict[int, PageRecord]:
        """A data sync: every pending page of `ino` is durable now (returned), but those a
        failed sync left clean, which stay pending (see `failure`)."""
        pages = self.by_ino.pop(ino, {})
        failed = {page: rec for page, rec in pages.items() if rec.failed is not None}
        if failed:
            self.by_ino[ino] = failed
            return {page: rec for page, rec in pages.items() if rec.failed is None}
        return pages

    def fail(self, ino: int, seq: int) -> None:
        """A data sync of `ino` that failed (op `seq`): its pending pages are clean now."""
        for rec in self.by_ino.get(ino, {}).values():
            if rec.failed is None:
                rec.failed = seq

    def failed(self, ino: int) -> list[int]:
        """The pages of `ino` a failed sync left clean and no write has dirtied since."""
        return [page for page, rec in self.by_ino.get(ino, {}).items() if rec.failed is not None]

    def get(self, ino: int) -> dict[int, PageRecord]:
        return self.by_ino.get(ino, {})

    def units(self, tree: Tree) -> Iterator[tuple[Unit, int, PageOverlay]]:
        """(unit, inode, its kept form) for every pending page of every visible file."""
        first: dict[int, tuple[str, Node]] = {}
        for path, node in tree.walk():
            if node.kind == "file" and node.ino not in first and self.by_ino.get(node.ino):
                first[node.ino] = (path, node)
        for ino, (path, node) in sorted(first.items(), key=lambda item: item[1][0]):
            assert node.data is not None
            for page, rec in sorted(self.by_ino[ino].items()):
                unit = Unit(path, page, tuple(rec.writes))
                yield unit, ino, PageOverlay(page, node.data.get(page),
                                             node.data.hash_of(page), rec.high)
