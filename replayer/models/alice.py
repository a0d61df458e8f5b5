"""The `alice` model: ALICE's abstract persistence model (Pillai et al., OSDI'14).

Rules, read from ALICE's `alicedefaultfs.py` (the README's models table
says the same in short):

- **Directory entries** (create, mkdir, symlink, link, unlink, rmdir,
  rename) persist only through an fsync of their parent directory, and may
  persist earlier, in any order, each on its own.
- **rename is not atomic**: it is three pieces, delete the destination
  entry (`#SEQ.del-dst`, when there was one), delete the source entry
  (`#SEQ.del-src`), create the destination entry (`#SEQ.create`); the
  create needs the delete of the destination (it replaces the name), and
  a directory's create also needs the delete of its source (a directory
  never has two names). An exchange of two files is two halves.
- **Appends** may persist their new size before their data: `#SEQ.size`
  (the new bytes read as zeros) and `#SEQ.garbage` (they read as garbage,
  which needs the size). An extending truncate is garbage, then zeros.
  Garbage is deterministic: letters and digits drawn from SHAKE-256 of the
  unit and page, so states are reproducible.
- **fsync is per file**: an fsync or fdatasync of a file makes its data,
  size and (fsync) mode durable, never its name; an fsync of a directory
  makes the entries in it durable. Writes tear at page boundaries: each
  page written since the file's last sync is kept or lost (as `lazyfs`).
  A marker is no barrier.

- **A failed fsync** (`errno`, from `record --fail`) folds nothing; the
  pages it covered are clean (see `failure`): kept or lost at every later
  crash point, never written by a later sync until written again (or, with
  `fsync_failure="revert"`, they, the size and the file's pending appends
  go back to the durable content). A failed write changed nothing.

Not modelled (see the README): ALICE's "truncate before unlinking the
last name" piece, sub-page tearing. Every `ext4-ordered` state is an
`alice` state. Legal choices: the pages are free, each operation's pieces
a small `Groups` of their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from powercut.replayer.models.base import Pending, ReplayModel
from powercut.replayer.models.effect_pending import EffectPending, NamespaceCache
from powercut.replayer.models.effects import (
    Effect,
    Fill,
    Link,
    Namespace,
    New,
    Size,
    Unlink,
    record,
)
from powercut.replayer.models.ext4 import _aliases
from powercut.replayer.models.failure import REVERT, keep_failed, revert_file, save_failed
from powercut.replayer.models.records import PageRecords
from powercut.replayer.space import Free, Groups, Space
from powercut.replayer.state import Unit
from powercut.replayer.tree import Tree, is_orphan
from powercut.trace import Op


@dataclass
class _Piece:
    """One pending unit that is not a page: a piece of an operation."""

    seq: int
    piece: str  # "" for a one-piece operation, else "del-dst", "size", ...
    path: str
    effects: list[Effect]
    dirs: tuple[int, ...] = ()  # the directories whose fsync makes it durable
    ino: int | None = None  # the inode whose data sync makes it durable (data pieces)
    mode_of: int | None = None  # a chmod: fsync (not fdatasync) of this inode folds it
    needs: tuple[str, ...] = ()  # pieces of the same operation it needs kept


@dataclass
class _Op:
    pieces: list[_Piece] = field(default_factory=list)


class AliceModel(ReplayModel):
    """ALICE's model: entries durable by directory fsync only, renames in pieces, appends torn."""

    name = "alice"
    summary = ("directory entries durable only through an fsync of their directory, in any "
               "order; renames in three pieces; appends may persist size before data")

    def start(self, tree: Tree) -> _Run:
        return _Run(tree, self.fsync_failure == REVERT)


class _Run:
    def __init__(self, tree: Tree, revert: bool = False) -> None:
        self.tree = tree
        self.revert = revert
        self.durable = Namespace.of_tree(tree)
        self.namespaces = NamespaceCache()
        self.records = PageRecords(tree.page_size)
        self.ops: list[_Op] = []
        self.nodes = {node.ino: node for _, node in tree.walk()}

    def apply(self, op: Op) -> None:
        if is_orphan(op) or (op.failed and op.op != "fsync"):
            return  # a failed write wrote nothing, a failed fsyncdir folded nothing
        name = op.op
        if name == "write":
            assert op.path is not None and op.offset is not None and op.data is not None
            node = self.tree.lookup(op.path)
            before = node.size
            self.tree.apply(op)
            if op.data:
                self.records.write(node.ino, op.seq, op.offset, len(op.data))
                end = op.offset + len(op.data)
                if end > before:
                    self._data_op(op, node.ino, [
                        ("size", [Fill(node.ino, before, end)], ()),
                        ("garbage", [Fill(node.ino, max(op.offset, before), end, op.seq)],
                         ("size",))])
        elif name == "fsync":
            assert op.path is not None
            node = self.tree.lookup(op.path)
            if op.failed:
                self._failed_sync(node.ino, op.seq)
            elif node.kind == "dir":
                self._dir_sync(node.ino)
            else:
                self._data_sync(node.ino, mode=not op.datasync)
        elif name == "fsyncdir":
            assert op.path is not None
            self._dir_sync(self.tree.lookup(op.path).ino if op.path else 0)
        elif name in ("truncate", "fallocate", "chmod"):
            self._inode_op(op)
        elif name in ("create", "mkdir", "symlink", "link", "unlink", "rmdir", "rename"):
            self._entry_op(op)
        else:
            self.tree.apply(op)

    def _data_op(self, op: Op, ino: int, pieces: list[tuple[str, list[Effect],
                                                            tuple[str, ...]]]) -> None:
        self.ops.append(_Op([_Piece(op.seq, piece, op.path or "", effects, ino=ino, needs=needs)
                             for piece, effects, needs in pieces]))

    def _inode_op(self, op: Op) -> None:
        assert op.path is not None
        node = self.tree.lookup(op.path)
        before = node.size
        effects = record(self.tree, op)
        if op.op == "chmod":
            self.ops.append(_Op([_Piece(op.seq, "", op.path, effects, mode_of=node.ino)]))
            return
        [size] = effects
        assert isinstance(size, Size)
        if size.op == "truncate":
            self.records.clip(node.ino, size.size)
        if size.op == "truncate" and size.size > before:  # garbage, then zeros
            self._data_op(op, node.ino, [
                ("garbage", [Fill(node.ino, before, size.size, op.seq)], ()),
                ("", [Fill(node.ino, before, size.size), size], ("garbage",))])
        else:
            self._data_op(op, node.ino, [("", [size], ())])

    def _entry_op(self, op: Op) -> None:
        path = op.dst if op.op in ("rename", "link") and op.dst else op.path or op.src or ""
        is_dir = op.op == "rename" and op.src is not None and \
            self.tree.lookup(op.src).kind == "dir"
        effects = record(self.tree, op)
        new = [e for e in effects if isinstance(e, New)]
        for e in new:  # the inode exists from now on; only its name is pending
            self.durable.apply(e)
            self.nodes[e.ino] = self.tree.lookup(op.path or "")
        entries = [e for e in effects if not isinstance(e, New)]
        if not entries:
            return
        if op.op != "rename":
            self.ops.append(_Op([_Piece(op.seq, "", path, entries, _dirs(entries))]))
            return
        if op.flags == "exchange":
            halves = [_Piece(op.seq, h, path, [e], _dirs([e])) for h, e in zip("ab", entries,
                                                                                strict=True)]
            if is_dir:
                halves = [_Piece(op.seq, "", path, entries, _dirs(entries))]
            self.ops.append(_Op(halves))
            return
        *deletes, create = entries
        pieces = []
        if len(deletes) == 2:
            pieces.append(_Piece(op.seq, "del-dst", path, [deletes[0]], _dirs([deletes[0]])))
        pieces.append(_Piece(op.seq, "del-src", op.src or path, [deletes[-1]],
                             _dirs([deletes[-1]])))
        needs = tuple(p.piece for p in pieces if p.piece == "del-dst" or is_dir)
        pieces.append(_Piece(op.seq, "create", path, [create], _dirs([create]), needs=needs))
        self.ops.append(_Op(pieces))

    def _fold(self, keep: Callable[[_Piece], bool]) -> None:
        """Make durable the pieces `keep` picks, and what they need in their operation."""
        for entry in self.ops:
            chosen = {p.piece for p in entry.pieces if keep(p)}
            grew = True
            while grew:
                more = {n for p in entry.pieces if p.piece in chosen for n in p.needs}
                grew = not more <= chosen
                chosen |= more
            for p in entry.pieces:
                if p.piece in chosen:
                    for effect in p.effects:
                        self.durable.apply(effect)
            entry.pieces = [p for p in entry.pieces if p.piece not in chosen]
        self.ops = [e for e in self.ops if e.pieces]

    def _data_sync(self, ino: int, mode: bool) -> None:
        # An append's garbage is moot once its bytes are synced (they overwrite it), and a
        # page a failed sync left clean reads as it did before the append: zeros.
        self._fold(lambda p: (p.ino == ino and p.piece != "garbage") or (
            mode and p.mode_of == ino))
        self._drop(lambda p: p.ino == ino and p.piece == "garbage")
        self.records.clear(ino)
        node = self.nodes.get(ino)
        if node is not None and node.data is not None:
            durable = self.durable.inode(ino)
            saved = save_failed(durable.data, self.records.failed(ino))
            durable.data = keep_failed(node.data.copy(), saved)
            durable.size = node.size

    def _drop(self, gone: Callable[[_Piece], bool]) -> None:
        for entry in self.ops:
            entry.pieces = [p for p in entry.pieces if not gone(p)]
        self.ops = [e for e in self.ops if e.pieces]

    def _failed_sync(self, ino: int, seq: int) -> None:
        """A sync that failed: nothing folds; its pages are clean (see `failure`)."""
        node = self.nodes.get(ino)
        if not self.revert or node is None or node.kind != "file":
            self.records.fail(ino, seq)
            return
        durable = self.durable.inodes[ino]
        revert_file(node, durable.data, durable.size, self.records.clear(ino))
        self._drop(lambda p: p.ino == ino)  # its appends' sizes and garbage are undone too

    def _dir_sync(self, ino: int) -> None:
        self._fold(lambda p: ino in p.dirs or p.mode_of == ino)

    def pending(self, point: int) -> Pending:
        units: list[Unit] = []
        pages = {}
        for unit, ino, overlay in self.records.units(self.tree):
            pages[len(units)] = (ino, overlay)
            units.append(unit)
        comps: list[Free | Groups] = [Free(tuple(pages))] if pages else []
        effects: dict[int, list[Effect]] = {}
        names = _first_names(self.tree) if any(p.ino is not None for e in self.ops
                                     for p in e.pieces) else {}
        for entry in self.ops:
            index = {}
            for p in entry.pieces:
                index[p.piece] = len(units)
                effects[len(units)] = p.effects
                # A data piece names its file as its pages do: by its name at the crash point
                # (the temp file renamed into place is the file, not the temp name).
                path = names.get(p.ino, p.path) if p.ino is not None else p.path
                units.append(Unit.op(p.seq, path, p.piece))
            comps.append(_group(entry.pieces, index))
        return EffectPending(point, self.durable.copy(), tuple(units), effects, pages, (),
                             Space(len(units), tuple(comps)), _aliases(self.tree, units),
                             self.namespaces)


def _first_names(tree: Tree) -> dict[int, str]:
    """Each inode's first name in the tree now (as `PageRecords.units` names pages)."""
    names: dict[int, str] = {}
    for path, node in tree.walk():
        names.setdefault(node.ino, path)
    return names


def _dirs(effects: list[Effect]) -> tuple[int, ...]:
    return tuple(e.parent for e in effects if isinstance(e, Link | Unlink))


def _group(pieces: list[_Piece], index: dict[str, int]) -> Groups:
    """The legal lost sets of one operation's pending pieces (a piece kept needs its needs)."""
    units = tuple(index[p.piece] for p in pieces)
    options = []
    for size in range(len(units) + 1):
        for lost in itertools.combinations(pieces, size):
            gone = {p.piece for p in lost}
            if any(n in gone for p in pieces if p.piece not in gone for n in p.needs):
                continue  # a kept piece whose need was lost
            options.append(frozenset(index[p.piece] for p in lost))
    return Groups(units, tuple(options))

