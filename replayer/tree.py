"""An in-memory file tree that replays a trace's operations.

The tree is inode-based, as the kernel's is: a directory maps names to
nodes, hard links share a node, a rename moves one name (and so carries a
directory's whole subtree: a program may rename `wal.tmp` to `wal` while the
log is open). File data lives in a sparse `PageStore`. An op that makes no sense
(a write to a missing path, rmdir of a non-empty directory...) is a
`TraceError` naming its seq. Ops marked `"orphan": true` name a file that
was unlinked while open; they cannot change anything visible and are
ignored. This module does no I/O and must never touch the real disk.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from powercut.errors import TraceError
from powercut.replayer.pages import PageStore
from powercut.trace import InitialEntry, Op, Trace

Kind = Literal["file", "dir", "symlink"]
FALLOC_KEEP_SIZE = 0x01
FALLOC_PUNCH_HOLE = 0x02
FALLOC_ZERO_RANGE = 0x10
_FALLOC_KNOWN = FALLOC_KEEP_SIZE | FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE
# Ops that only read or report: nothing in the tree changes.
_NO_CHANGE = frozenset({"fsync", "fsyncdir", "marker"})


@dataclass(eq=False, slots=True)
class Node:
    """One inode. `data`/`size` for files, `children` for dirs, `target` for symlinks."""

    ino: int
    kind: Kind
    mode: int
    size: int = 0
    data: PageStore | None = None
    children: dict[str, Node] = field(default_factory=dict)
    target: str = ""


def is_orphan(op: Op) -> bool:
    return bool(op.extra.get("orphan"))


class Tree:
    """The namespace and the latest file contents, as the running program saw them."""

    def __init__(self, initial: Iterable[InitialEntry] = (), page_size: int = 4096) -> None:
        self.page_size = page_size
        self._inos = itertools.count(1)
        self.root = Node(0, "dir", 0o755)
        for entry in initial:
            self._add_initial(entry)

    def _new(self, kind: Kind, mode: int) -> Node:
        node = Node(next(self._inos), kind, mode & 0o7777)
        if kind == "file":
            node.data = PageStore(self.page_size)
        return node

    def _add_initial(self, entry: InitialEntry) -> None:
        where = f"initial entry {entry.path!r}"
        parent, name = self._parent(entry.path, where)
        if name in parent.children:
            raise TraceError(f"{where} appears twice")
        node = self._new(entry.kind, entry.mode)
        if entry.kind == "file":
            assert node.data is not None
            node.data.write(0, entry.data)
            node.size = max(entry.size, len(entry.data))
        elif entry.kind == "symlink":
            node.target = entry.target
        parent.children[name] = node

    @classmethod
    def of_trace(cls, trace: Trace, page_size: int | None = None) -> Tree:
        """The tree before the trace's first op: its initial entries and their bytes."""
        tree = cls(trace.initial, page_size or trace.page_size)
        if trace.version >= 2:
            for path, offset, data in trace.initial_chunks():
                node = tree.file(path, f"initial file {path!r}")
                assert node.data is not None
                node.data.write(offset, data)
        return tree

    # ------------------------------------------------------------------ lookup

    def _parent(self, path: str, where: str) -> tuple[Node, str]:
        *dirs, name = path.split("/")
        node = self.root
        for part in dirs:
            child = node.children.get(part)
            if child is None or child.kind != "dir":
                raise TraceError(f"{where}: {path!r}: {part!r} is not a directory")
            node = child
        return node, name

    def parent_of(self, path: str, where: str = "lookup") -> tuple[Node, str]:
        """The directory node that holds `path`'s last component, and that component."""
        return self._parent(path, where)

    def lookup(self, path: str, where: str = "lookup") -> Node:
        parent, name = self._parent(path, where)
        node = parent.children.get(name)
        if node is None:
            raise TraceError(f"{where}: {path!r} does not exist")
        return node


    def file(self, path: str, where: str) -> Node:
        node = self.lookup(path, where)
        if node.kind != "file":
            raise TraceError(f"{where}: {path!r} is a {node.kind}, not a file")
        return node

    def walk(self) -> Iterator[tuple[str, Node]]:
        """Every visible (path, node), parents before children, names sorted."""
        # Iterative, so a hostile trace's deep nesting cannot hit the recursion limit.
        stack: list[tuple[str, Node]] = [
            (name, self.root.children[name]) for name in sorted(self.root.children, reverse=True)]
        while stack:
            path, node = stack.pop()
            yield path, node
            if node.kind == "dir":
                stack.extend((f"{path}/{name}", node.children[name])
                             for name in sorted(node.children, reverse=True))

    # ------------------------------------------------------------------ applying

    def apply(self, op: Op) -> Node | None:
        """Apply one op; returns the file node a data op acted on (None otherwise)."""
        if is_orphan(op) or op.op in _NO_CHANGE:
            if op.op == "fsync" and not is_orphan(op):
                assert op.path is not None
                return self.lookup(op.path, f"seq {op.seq} fsync")
            return None
        handler = getattr(self, f"_op_{op.op}")
        return handler(op, f"seq {op.seq} {op.op}")

    def _op_create(self, op: Op, where: str) -> Node:
        return self._make(op, where, "file")

    def _op_mkdir(self, op: Op, where: str) -> None:
        self._make(op, where, "dir")

    def _op_symlink(self, op: Op, where: str) -> None:
        self._make(op, where, "symlink").target = op.target or ""

    def _make(self, op: Op, where: str, kind: Kind) -> Node:
        assert op.path is not None
        parent, name = self._parent(op.path, where)
        if name in parent.children:
            raise TraceError(f"{where}: {op.path!r} already exists")
        node = self._new(kind, op.mode if op.mode is not None else 0o777)
        parent.children[name] = node
        return node

    def _op_unlink(self, op: Op, where: str) -> None:
        assert op.path is not None
        parent, name = self._parent(op.path, where)
        node = self.lookup(op.path, where)
        if node.kind == "dir":
            raise TraceError(f"{where}: {op.path!r} is a directory")
        del parent.children[name]

    def _op_rmdir(self, op: Op, where: str) -> None:
        assert op.path is not None
        parent, name = self._parent(op.path, where)
        node = self.lookup(op.path, where)
        if node.kind != "dir":
            raise TraceError(f"{where}: {op.path!r} is not a directory")
        if node.children:
            raise TraceError(f"{where}: {op.path!r} is not empty")
        del parent.children[name]

    def _op_link(self, op: Op, where: str) -> None:
        assert op.src is not None and op.dst is not None
        node = self.lookup(op.src, where)
        if node.kind == "dir":
            raise TraceError(f"{where}: {op.src!r} is a directory")
        parent, name = self._parent(op.dst, where)
        if name in parent.children:
            raise TraceError(f"{where}: {op.dst!r} already exists")
        parent.children[name] = node

    def _op_rename(self, op: Op, where: str) -> None:
        src, dst = op.src, op.dst
        assert src is not None and dst is not None
        sparent, sname = self._parent(src, where)
        node = self.lookup(src, where)
        dparent, dname = self._parent(dst, where)
        if node.kind == "dir" and dst.startswith(src + "/"):
            raise TraceError(f"{where}: cannot move {src!r} into itself ({dst!r})")
        other = dparent.children.get(dname)
        if op.flags == "exchange":
            if other is None:
                raise TraceError(f"{where}: {dst!r} does not exist to exchange with")
            if other.kind == "dir" and src.startswith(dst + "/"):
                raise TraceError(f"{where}: cannot move {dst!r} into itself ({src!r})")
            sparent.children[sname], dparent.children[dname] = other, node
            return
        if other is not None:
            if op.flags == "noreplace":
                raise TraceError(f"{where}: {dst!r} exists (noreplace)")
            if other is node:
                return  # two names of one inode: POSIX says do nothing
            if node.kind == "dir" and (other.kind != "dir" or other.children):
                raise TraceError(f"{where}: {dst!r} is not an empty directory")
            if node.kind != "dir" and other.kind == "dir":
                raise TraceError(f"{where}: {dst!r} is a directory")
        del sparent.children[sname]
        dparent.children[dname] = node

    def _op_write(self, op: Op, where: str) -> Node:
        assert op.path is not None and op.data is not None and op.offset is not None
        node = self.file(op.path, where)
        assert node.data is not None
        node.data.write(op.offset, op.data)
        if op.data:
            node.size = max(node.size, op.offset + len(op.data))
        return node

    def _op_truncate(self, op: Op, where: str) -> Node:
        assert op.path is not None and op.size is not None
        node = self.file(op.path, where)
        assert node.data is not None
        node.data.cut(op.size)
        node.size = op.size
        return node

    def _op_fallocate(self, op: Op, where: str) -> Node:
        assert op.path is not None and op.offset is not None and op.length is not None
        mode = op.mode or 0
        node = self.file(op.path, where)
        assert node.data is not None
        if mode & ~_FALLOC_KNOWN:
            raise TraceError(f"{where}: fallocate mode {mode:#x} is not supported")
        if mode & FALLOC_PUNCH_HOLE and not mode & FALLOC_KEEP_SIZE:
            raise TraceError(f"{where}: punch hole without keep-size is invalid")
        end = op.offset + op.length
        if mode & (FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE):
            node.data.zero_range(op.offset, min(end, node.size) - op.offset)
        if not mode & FALLOC_KEEP_SIZE:
            node.size = max(node.size, end)
        return node

    def _op_chmod(self, op: Op, where: str) -> None:
        assert op.path is not None and op.mode is not None
        self.lookup(op.path, where).mode = op.mode & 0o7777


FileTree = dict[str, tuple[str, int, bytes]]


def snapshot(tree: Tree) -> FileTree:
    """path -> (kind, mode, bytes): file bytes, symlink target (utf-8), b"" for dirs."""
    out: FileTree = {}
    for path, node in tree.walk():
        if node.kind == "file":
            assert node.data is not None
            out[path] = ("file", node.mode, node.data.read(node.size))
        elif node.kind == "symlink":
            out[path] = ("symlink", node.mode, node.target.encode())
        else:
            out[path] = ("dir", node.mode, b"")
    return out


def final_tree(trace: Trace) -> FileTree:
    """The tree after every op of `trace`, with every write persisted."""
    tree = Tree.of_trace(trace)
    for op in trace.ops():
        tree.apply(op)
    return snapshot(tree)
