"""The `lazyfs` persistence model: what LazyFS can leave after a power cut.

Namespace and size operations (create, mkdir, unlink, rmdir, rename, link,
symlink, truncate, fallocate, chmod) are durable at once, in order. File
data is durable up to the file's last fsync/fdatasync; a write after that
makes pages pending. At a crash each pending page independently either
reached the disk (its latest content) or did not (its durable content). A kept page
past the durable end of file extends the file to the last byte written in
that page. With page_size 8192 a 16 KiB write splits in two, as LazyFS's
own cache does.

A failed fsync or fdatasync (an op with `errno`, from `record --fail`)
makes nothing durable, not even the size: each page it covered may or may
not have reached the disk (the error may have hit any of its blocks), and
Linux marks them clean, so no later fsync writes them. They stay pending
(kept or lost) at every later crash point until the program writes them
again; then the page is dirty with its latest bytes, the failed ones
included (the page cache of ext4 and XFS kept them), and a later fsync
makes it durable. Rebello et al., "Can Applications Recover from fsync
Failures?", USENIX ATC 2020 (CuttleFS). A failed write changed nothing.
With `fsync_failure="revert"` the failed pages and the size go back to
their durable content instead, in the file as the program goes on (btrfs,
per the same paper): the failed bytes are lost for good.

The latest contents live in a `Tree`; this module keeps, per inode, the
durable pages and size and the pending pages since the last sync. It never
enumerates choices (the enumerator does) and never touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from powercut.replayer.image import Entry, digest_of
from powercut.replayer.models.base import ReplayModel
from powercut.replayer.models.failure import KEEP, REVERT, revert_file
from powercut.replayer.models.lazyfs.pending import (
    FileAtCrash,
    LazyPending,
    PageChoice,
    PendingFile,
)
from powercut.replayer.pages import HASH_MOD, PageStore
from powercut.replayer.state import Unit
from powercut.replayer.tree import (
    FALLOC_KEEP_SIZE,
    FALLOC_PUNCH_HOLE,
    FALLOC_ZERO_RANGE,
    Node,
    Tree,
    is_orphan,
)
from powercut.trace import Op


@dataclass(slots=True)
class _PendingPage:
    writes: list[int] = field(default_factory=list)
    high: int = 0  # one past the last byte written in this page since the last sync
    failed: int | None = None  # the failed sync that left it clean (no sync writes it now)


@dataclass(slots=True)
class _Durable:
    pages: PageStore
    size: int = 0
    pending: dict[int, _PendingPage] = field(default_factory=dict)
    version: int = 0  # bumped by every op on the file's data, durable or not
    cached: tuple[int, str, PendingFile] | None = None  # (version, unit path, units)


class LazyFSModel(ReplayModel):
    """LazyFS: durable namespace, each page written since the last fsync kept or lost."""

    name = "lazyfs"
    summary = ("namespace and size ops durable at once; each page written since the "
               "file's last fsync independently kept or lost")

    def start(self, tree: Tree) -> _LazyRun:
        return _LazyRun(tree, self.fsync_failure)


class _LazyRun:
    """The mutable replay behind `LazyFSModel.crash_points`."""

    def __init__(self, tree: Tree, fsync_failure: str = KEEP) -> None:
        self.tree = tree
        self.revert = fsync_failure == REVERT
        self.ps = tree.page_size
        self.durable: dict[int, _Durable] = {}
        for _, node in tree.walk():
            if node.kind == "file" and node.ino not in self.durable:
                assert node.data is not None
                self.durable[node.ino] = _Durable(node.data.copy(), node.size)

    def apply(self, op: Op) -> None:
        if is_orphan(op):
            return
        node = self.tree.apply(op)
        if node is None or node.kind != "file":
            return
        d = self.durable.get(node.ino)
        if d is None:  # a file created by this op
            d = self.durable[node.ino] = _Durable(PageStore(self.ps))
        d.version += 1
        if op.op == "write":
            self._write(op, d)
        elif op.op == "truncate":
            assert op.size is not None
            d.pages.cut(op.size)
            d.size = op.size
            self._clip_pending(d, op.size)
        elif op.op == "fallocate":
            self._fallocate(op, node, d)
        elif op.op == "fsync" and op.failed:
            self._failed_sync(op.seq, node, d)
        elif op.op == "fsync":
            self._sync(node, d)

    def _write(self, op: Op, d: _Durable) -> None:
        assert op.offset is not None and op.data is not None
        ps, seq, pages = self.ps, op.seq, d.pending
        end = op.offset + len(op.data)
        pos = op.offset
        while pos < end:
            page = pos // ps
            page_end = min(end, (page + 1) * ps)
            record = pages.get(page)
            if record is None:
                record = pages[page] = _PendingPage()
            record.writes.append(seq)
            record.failed = None  # dirty again: the next sync writes its latest bytes
            if page_end > record.high:
                record.high = page_end
            pos = page_end

    def _clip_pending(self, d: _Durable, size: int) -> None:
        for page in [p for p in d.pending if p * self.ps >= size]:
            del d.pending[page]
        for record in d.pending.values():
            record.high = min(record.high, size)

    def _fallocate(self, op: Op, node: Node, d: _Durable) -> None:
        assert op.offset is not None and op.length is not None
        mode = op.mode or 0
        if mode & (FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE):
            d.pages.zero_range(op.offset, min(op.offset + op.length, node.size) - op.offset)
        if not mode & FALLOC_KEEP_SIZE:
            d.size = max(d.size, op.offset + op.length)

    def _sync(self, node: Node, d: _Durable) -> None:
        assert node.data is not None
        for page, record in list(d.pending.items()):
            if record.failed is None:  # a page a failed sync left clean is not written
                d.pages.set(page, node.data.get(page), node.data.hash_of(page))
                del d.pending[page]
        d.size = node.size

    def _failed_sync(self, seq: int, node: Node, d: _Durable) -> None:
        """A sync that failed: its pages are clean, undecided, and no later sync writes them
        (or, reverting, they and the size are the durable ones again)."""
        if self.revert:
            revert_file(node, d.pages, d.size, d.pending)
            d.pending.clear()
            return
        for record in d.pending.values():
            if record.failed is None:
                record.failed = seq

    def pending(self, seq: int) -> LazyPending:
        entries: list[Entry] = []
        total = 0
        first_path: dict[int, int] = {}  # ino -> index of its first entry
        by_ino: dict[int, list[int]] = {}
        nodes: dict[int, Node] = {}
        for path, node in self.tree.walk():
            if node.kind == "file":
                nodes[node.ino] = node
                d = self.durable[node.ino]
                first = first_path.get(node.ino)
                link_to = None if first is None else entries[first].path
                if first is None:
                    first_path[node.ino] = len(entries)
                by_ino.setdefault(node.ino, []).append(len(entries))
                entry = Entry(path, "file", node.mode, d.size, d.pages.snapshot(), link_to=link_to)
                total += digest_of(entry, d.pages.hash_sum)
            elif node.kind == "symlink":
                entry = Entry(path, "symlink", node.mode, target=node.target)
                total += digest_of(entry)
            else:
                entry = Entry(path, "dir", node.mode)
                total += digest_of(entry)
            entries.append(entry)
        pending = sorted((entries[where[0]].path, ino) for ino, where in by_ino.items()
                         if self.durable[ino].pending)
        files: list[FileAtCrash] = []
        first = 0
        for path, ino in pending:  # files in path order: each file's units are contiguous
            d = self.durable[ino]
            if d.cached is None or d.cached[:2] != (d.version, path):
                d.cached = (d.version, path, self._pending_file(path, d, nodes[ino]))
            files.append(FileAtCrash(path, tuple(by_ino[ino]), d.size, d.pages.hash_sum, first,
                                     d.cached[2]))
            first += len(d.cached[2].units)
        return LazyPending(seq, self.ps, tuple(entries), total, tuple(files))

    def _pending_file(self, path: str, d: _Durable, node: Node) -> PendingFile:
        """A file's pending pages as units; cached until the file's data changes."""
        latest = node.data
        assert latest is not None
        pages = tuple(sorted(d.pending))
        records = [d.pending[page] for page in pages]
        highs = [x.high for x in records]
        get, latest_hash, durable_hash = latest.get, latest.hash_of, d.pages.hash_of
        deltas = [latest_hash(page) - durable_hash(page) for page in pages]
        choices = tuple(map(PageChoice, pages, map(get, pages), deltas, highs))
        units = tuple(Unit(path, page, tuple(x.writes))
                      for page, x in zip(pages, records, strict=True))
        return PendingFile(
            units, choices, pages, max(d.size, *highs),
            (d.pages.hash_sum + sum(deltas)) % HASH_MOD,
            # Highest first; ties keep page order (sort stability holds with reverse).
            tuple(sorted(range(len(pages)), key=highs.__getitem__, reverse=True)))
