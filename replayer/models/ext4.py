"""The `ext4-ordered` model: ext4's default mount (data=ordered, delalloc, auto_da_alloc).

Rules (the README's models table says the same in short):

- **Journal.** Every metadata operation (create, mkdir, symlink, link,
  unlink, rmdir, rename, chmod, truncate, fallocate) is a journal entry, in
  order, one operation one entry (a handle is atomic). After a crash the
  durable metadata is a *prefix* of the entries: it ends anywhere after the
  last commit powercut knows of (periodic commits are not timed, so any
  later cut is possible).
- **Commits.** `fsync(x)` commits through the last entry that touched x
  (`fdatasync`: the last that changed its size or allocation); if x has
  pages still to allocate (appended, or in a hole) it commits everything so
  far, since their allocation joins the running transaction. `fsync` of a
  directory (`fsyncdir`) commits everything (kernels 5.10 and later).
- **Data.** Each page written since its file's last data sync is kept or
  lost. Ordered mode writes newly allocated blocks before the metadata that
  exposes them commits, so a page that extends the file or fills a hole is
  kept only if the entries before its write are (a committed size never
  exposes blocks never written); overwrites of allocated blocks are not
  ordered at all. Size rule: a kept page past the size at the cut extends
  the file to the last byte written in it (lost pages before it read as
  zeros): the same rule as `lazyfs`.
- **auto_da_alloc** (on, as the kernel's default): a rename over an existing
  file flushes the source's pending data first, so a durable rename implies
  that data. The truncate-to-zero heuristic acts at `close`, which traces do
  not record: not modelled.

- **A failed fsync** (`errno`, from `record --fail`) commits nothing; the
  pages it covered are clean (see `failure`): each is kept or lost, free
  of the journal's order, at every later crash point, and no later sync
  writes it until the program writes it again (or, with
  `fsync_failure="revert"`, they and the size go back to the durable
  content). A failed `fsyncdir` commits nothing; a failed write changed
  nothing.

Not modelled: the 5 s commit timer, fast commits, data=journal/writeback,
intermediate page versions. Units: pages (as `lazyfs`), then `#SEQ` for each
pending entry; the legal choices are one `Cut` (see `space`). With
auto_da_alloc off every `lazyfs` state is an `ext4-ordered` state; with it
on, `lazyfs` also allows "renamed over and empty", which ext4 cannot leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from powercut.replayer.models.base import Pending, ReplayModel
from powercut.replayer.models.effect_pending import EffectPending, NamespaceCache
from powercut.replayer.models.effects import Effect, Namespace, New, Size, record
from powercut.replayer.models.failure import KEEP, REVERT, keep_failed, revert_file, save_failed
from powercut.replayer.models.records import PageRecords
from powercut.replayer.space import Cut, Free, Space
from powercut.replayer.state import Unit
from powercut.replayer.tree import FALLOC_PUNCH_HOLE, FALLOC_ZERO_RANGE, Tree, is_orphan
from powercut.trace import Op

METADATA = frozenset({"create", "mkdir", "symlink", "link", "unlink", "rmdir", "rename",
                      "chmod", "truncate", "fallocate"})
NEVER = 1 << 62


@dataclass
class _Entry:
    seq: int
    path: str
    effects: list[Effect]
    bindings: list[tuple[int, int, int]] = field(default_factory=list)  # (ino, page, write)


@dataclass
class _File:
    floor: int = 0  # least size durable since the last data sync
    below: int = 0  # pages below this are allocated and written (initial data)
    extra: set[int] = field(default_factory=set)  # written pages past `below`
    holes: set[int] = field(default_factory=set)  # pages below `below` that are not
    touch: int = 0  # entries up to this one touched the inode (fsync commits them)
    dtouch: int = 0  # ... changed its size or allocation (fdatasync commits them)

    def written(self, page: int) -> bool:
        return (page < self.below and page not in self.holes) or page in self.extra


class Ext4OrderedModel(ReplayModel):
    """ext4 data=ordered: metadata a journal prefix, file data per page, ordered allocation."""

    name = "ext4-ordered"
    summary = ("metadata journaled in order, a prefix durable (fsync commits what touched the "
               "file, fsyncdir all); each pending page kept or lost, new pages only with the "
               "metadata before them")

    def __init__(self, page_size: int = 4096, *, auto_da_alloc: bool = True,
                 fsync_failure: str = KEEP) -> None:
        super().__init__(page_size, fsync_failure=fsync_failure)
        self.auto_da_alloc = auto_da_alloc

    def start(self, tree: Tree) -> _Run:
        return _Run(tree, self.auto_da_alloc, self.fsync_failure == REVERT)


class _Run:
    """The mutable replay behind `Ext4OrderedModel.crash_points`."""

    def __init__(self, tree: Tree, auto_da_alloc: bool, revert: bool = False) -> None:
        self.tree = tree
        self.revert = revert
        self.ps = tree.page_size
        self.auto = auto_da_alloc
        self.durable = Namespace.of_tree(tree)
        self.namespaces = NamespaceCache()
        self.records = PageRecords(self.ps)
        self.files: dict[int, _File] = {}
        for _, node in tree.walk():
            if node.kind == "file":
                pages = -(-node.size // self.ps)
                self.files[node.ino] = _File(floor=node.size, below=pages)
        self.pending_entries: list[_Entry] = []
        self.committed = 0  # F: entries durable
        self.count = 0  # m: entries so far
        self.since: dict[int, int] = {}  # write seq -> entries before it
        self.kept_always: list[tuple[int, int, int]] = []  # durable renames' bound pages
        self.nodes = {node.ino: node for _, node in tree.walk()}

    def _file(self, ino: int) -> _File:
        return self.files.setdefault(ino, _File())

    def apply(self, op: Op) -> None:
        if is_orphan(op) or (op.failed and op.op != "fsync"):
            return  # a failed write wrote nothing, a failed fsyncdir committed nothing
        if op.op in METADATA:
            self._metadata(op)
        elif op.op == "write":
            assert op.path is not None and op.offset is not None and op.data is not None
            node = self.tree.lookup(op.path)
            self.tree.apply(op)
            if op.data:
                self.since[op.seq] = self.count
                self.records.write(node.ino, op.seq, op.offset, len(op.data))
                self._file(node.ino).touch = self.count
        elif op.op == "fsync":
            assert op.path is not None
            node = self.tree.lookup(op.path)
            if op.failed:
                self._failed_fsync(node.ino, op.seq)
            elif node.kind == "dir":
                self._commit(self.count)
            else:
                self._fsync(node.ino, bool(op.datasync))
        elif op.op == "fsyncdir":
            self._commit(self.count)
        else:
            self.tree.apply(op)

    def _metadata(self, op: Op) -> None:
        path = op.dst if op.op in ("rename", "link") and op.dst else op.path or op.src or ""
        touched = []
        if op.op in ("rename", "link") and op.src is not None:
            touched.append(self.tree.lookup(op.src).ino)
        if op.op == "rename" and op.dst is not None:
            parent, name = self.tree.parent_of(op.dst)
            if name in parent.children:
                touched.append(parent.children[name].ino)
        if op.op in ("unlink", "chmod", "truncate", "fallocate") and op.path is not None:
            touched.append(self.tree.lookup(op.path).ino)
        src_node = self.tree.lookup(op.src) if op.op == "rename" and op.src else None
        replaces = False
        if op.op == "rename" and op.dst is not None and src_node is not None:
            parent, name = self.tree.parent_of(op.dst)
            other = parent.children.get(name)
            replaces = other is not None and other is not src_node
        effects = record(self.tree, op)
        entry = _Entry(op.seq, path, effects)
        self.count += 1
        for effect in effects:
            if isinstance(effect, New):
                touched.append(effect.ino)
                self._file(effect.ino).dtouch = self.count
                self.nodes[effect.ino] = self.tree.lookup(op.path or "")
        for ino in touched:
            self._file(ino).touch = self.count
        if self.auto and replaces and op.flags == 0 and src_node is not None:
            # Renamed over an existing file: its pending data goes out first.
            entry.bindings = [(src_node.ino, page, rec.writes[-1])
                              for page, rec in self.records.get(src_node.ino).items()
                              if rec.failed is None and self._ordered(src_node.ino, page)]
        for effect in effects:
            if isinstance(effect, Size):
                self._resize(effect)
        self.pending_entries.append(entry)

    def _resize(self, effect: Size) -> None:
        f = self._file(effect.ino)
        f.touch = f.dtouch = self.count
        ps = self.ps
        if effect.op == "truncate":
            self.records.clip(effect.ino, effect.size)
            f.floor = min(f.floor, effect.size)
            keep = -(-effect.size // ps)
            f.below = min(f.below, keep)
            f.extra = {p for p in f.extra if p < keep}
            f.holes = {p for p in f.holes if p < keep}
        elif effect.mode & (FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE) and effect.length:
            first = -(-effect.offset // ps)
            last = (effect.offset + effect.length) // ps  # pages fully covered: [first, last)
            for page in range(first, last):
                f.extra.discard(page)
                if page < f.below:
                    f.holes.add(page)

    def _ordered(self, ino: int, page: int) -> bool:
        rec = self.records.get(ino)[page]
        f = self._file(ino)
        return rec.high > f.floor or not f.written(page)

    def _waits_for(self, ino: int, page: int) -> int:
        """The entries (a count) the page's write needed: it persists only after them (a page
        a failed sync left clean was written out, or not, already: it waits for nothing)."""
        rec = self.records.get(ino)[page]
        f = self._file(ino)
        if rec.failed is not None:
            return 0
        if rec.high > f.floor:
            return self.since.get(rec.raised, 0)
        if not f.written(page):
            return self.since.get(rec.first, 0)
        return 0

    def _fsync(self, ino: int, datasync: bool) -> None:
        f = self._file(ino)
        if any(self._ordered(ino, p) for p, rec in self.records.get(ino).items()
               if rec.failed is None):
            self._commit(self.count)
        else:
            self._commit(max(self.committed, f.dtouch if datasync else f.touch))
        node = self.nodes.get(ino)
        pages = self.records.clear(ino)
        if node is not None and node.data is not None:
            durable = self.durable.inode(ino)
            saved = save_failed(durable.data, self.records.failed(ino))
            durable.data = keep_failed(node.data.copy(), saved)
            durable.size = node.size
            f.floor = node.size
            keep = -(-node.size // self.ps)
            f.extra = {p for p in (f.extra | set(pages)) if p < keep}
            f.holes -= set(pages)

    def _failed_fsync(self, ino: int, seq: int) -> None:
        """An fsync that failed: nothing commits; its pages are clean (see `failure`)."""
        node = self.nodes.get(ino)
        if not self.revert or node is None or node.kind != "file":
            self.records.fail(ino, seq)
            return
        durable = self.durable.inodes.get(ino)
        size = durable.size if durable is not None else 0
        revert_file(node, durable.data if durable is not None else None, size,
                    self.records.clear(ino))
        f = self._file(ino)
        f.floor = min(f.floor, size)

    def _commit(self, upto: int) -> None:
        while self.committed < min(upto, self.count):
            entry = self.pending_entries.pop(0)
            for effect in entry.effects:
                self.durable.apply(effect)
            self.kept_always += entry.bindings
            self.committed += 1

    def pending(self, point: int) -> Pending:
        units: list[Unit] = []
        pages: dict[int, tuple[int, object]] = {}
        page_index: dict[tuple[int, int], int] = {}
        always = []
        live_bindings = set()
        for unit, ino, overlay in self.records.units(self.tree):
            binding = (ino, unit.page, unit.writes[-1])
            if binding in self.kept_always:
                always.append((ino, overlay))
                live_bindings.add(binding)
                continue
            page_index[(ino, unit.page)] = len(units)
            pages[len(units)] = (ino, overlay)
            units.append(unit)
        self.kept_always = [b for b in self.kept_always if b in live_bindings]
        entries = []
        effects: dict[int, list[Effect]] = {}
        for entry in self.pending_entries:
            effects[len(units)] = entry.effects
            entries.append(len(units))
            units.append(Unit.op(entry.seq, entry.path))
        k = len(entries)
        after: dict[int, int] = {}
        before: dict[int, int] = {}
        for (ino, page), i in page_index.items():
            after[i] = max(0, self._waits_for(ino, page) - self.committed)
        for j, entry in enumerate(self.pending_entries):
            for ino, page, write in entry.bindings:
                i = page_index.get((ino, page))
                if i is not None and units[i].writes[-1] == write:
                    before[i] = min(before.get(i, NEVER), j + 1)
        tied = tuple(i for i in pages if after[i] > 0 or before.get(i, NEVER) <= k)
        free = tuple(i for i in pages if i not in set(tied))
        comps = []
        if free:
            comps.append(Free(free))
        if entries or tied:
            comps.append(Cut(tuple(entries), tied, tuple(min(after[i], k) for i in tied),
                             tuple(min(before.get(i, NEVER), k + 1) for i in tied)))
        aliases = _aliases(self.tree, units)
        return EffectPending(point, self.durable.copy(), tuple(units), effects, pages,  # type: ignore[arg-type]
                             always, Space(len(units), tuple(comps)), aliases, self.namespaces)


def _aliases(tree: Tree, units: list[Unit]) -> dict[str, str]:
    """Other names of files with page units -> the name the units use."""
    unit_paths = {u.path for u in units if not u.is_op}
    first: dict[int, str] = {}
    out = {}
    for path, node in tree.walk():
        if node.kind != "file":
            continue
        if node.ino in first:
            if first[node.ino] in unit_paths:
                out[path] = first[node.ino]
        else:
            first[node.ino] = path
    return out
