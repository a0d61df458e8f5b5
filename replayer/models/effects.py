"""What weaker models replay: operations as effects on a namespace of inodes, and its image.

`lazyfs` keeps the namespace durable at once; `ext4-ordered` and `alice`
may lose namespace operations, so they keep a *durable* `Namespace` (entries
`(directory inode, name) -> inode` and the inodes' attributes and data)
and replay the kept operations onto a copy of it, as `Effect`s that name
inodes, never paths: a file renamed after a lost operation is still the
same file. Inode numbers are those of the latest `Tree`, so a page unit
(named by inode) lands on its file whatever survived.

`record(tree, op)` applies one op to the latest tree and says what it did
as effects; `Namespace.image(overlays)` walks the kept namespace from the
root (unreachable inodes vanish) into an `Image` and its content key. Pure:
no disk.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from powercut.replayer.image import Entry, Image, Overlay, digest_of, key_hex
from powercut.replayer.models.garbage import garbage_page, garbage_run
from powercut.replayer.pages import HASH_MOD, PageStore
from powercut.replayer.tree import (
    FALLOC_KEEP_SIZE,
    FALLOC_PUNCH_HOLE,
    FALLOC_ZERO_RANGE,
    Kind,
    Node,
    Tree,
)
from powercut.trace import Op

ROOT = 0


@dataclass(frozen=True, slots=True)
class New:
    """An inode comes into existence (nameless until linked)."""

    ino: int
    kind: Kind
    mode: int
    target: str = ""


@dataclass(frozen=True, slots=True)
class Link:
    """Name `name` in directory `parent` points at `ino` (replacing what it named)."""

    parent: int
    name: str
    ino: int


@dataclass(frozen=True, slots=True)
class Unlink:
    """Name `name` in directory `parent` is removed, whatever it names."""

    parent: int
    name: str


@dataclass(frozen=True, slots=True)
class Mode:
    ino: int
    mode: int


@dataclass(frozen=True, slots=True)
class Size:
    """A truncate (`length` None) or fallocate of a file's data, as the op did it."""

    ino: int
    op: str  # "truncate" or "fallocate"
    size: int = 0  # truncate: the new size
    offset: int = 0
    length: int | None = None
    mode: int = 0
    latest: int = 0  # the file's size when the op ran (fallocate punches up to it)


@dataclass(frozen=True, slots=True)
class Fill:
    """Bytes [start, end) of a file become zeros or (with `garbage` the seq) garbage; the size
    grows to `end` at least (an append's new size reaching the disk before its data)."""

    ino: int
    start: int
    end: int
    garbage: int | None = None


Effect = New | Link | Unlink | Mode | Size | Fill


@dataclass(slots=True)
class Inode:
    kind: Kind
    mode: int
    data: PageStore | None = None
    size: int = 0
    target: str = ""


def apply_size(data: PageStore, size: int, effect: Size) -> int:
    """Apply a truncate or fallocate to file data of `size` bytes; returns the new size."""
    if effect.op == "truncate":
        data.cut(effect.size)
        return effect.size
    assert effect.length is not None
    end = effect.offset + effect.length
    if effect.mode & (FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE):
        stop = min(end, effect.latest)
        if stop > effect.offset:
            data.zero_range(effect.offset, stop - effect.offset)
    if not effect.mode & FALLOC_KEEP_SIZE:
        size = max(size, end)
    return size


class Namespace:
    """Directory entries and inodes, by inode number: a disk the model builds up."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.children: dict[int, dict[str, int]] = {ROOT: {}}
        self.inodes: dict[int, Inode] = {ROOT: Inode("dir", 0o755)}
        self._mine: set[int] = set()  # inodes (and dirs) this copy may change in place

    @classmethod
    def of_tree(cls, tree: Tree) -> Namespace:
        """The namespace and data of `tree` as they are (its inode numbers)."""
        ns = cls(tree.page_size)
        stack: list[Node] = [tree.root]
        while stack:
            node = stack.pop()
            data = node.data.copy() if node.data is not None else None
            ns.inodes[node.ino] = Inode(node.kind, node.mode, data, node.size, node.target)
            if node.kind == "dir":
                ns.children[node.ino] = {name: child.ino for name, child in node.children.items()}
                stack.extend(node.children.values())
        ns._mine = set(ns.inodes) | set(ns.children)
        return ns

    def copy(self) -> Namespace:
        """A copy sharing inodes and directories until either side changes one."""
        other = Namespace(self.page_size)
        other.children = dict(self.children)
        other.inodes = dict(self.inodes)
        other._mine = set()
        self._mine = set()  # shared now: this side copies before it changes one too
        return other

    def _dir(self, ino: int) -> dict[str, int]:
        key = -1 - ino  # directory dicts and inodes are owned apart
        if key not in self._mine:
            self.children[ino] = dict(self.children.get(ino, {}))
            self._mine.add(key)
        return self.children[ino]

    def inode(self, ino: int) -> Inode:
        """The inode, to change: copied first if this namespace shares it."""
        if ino not in self._mine:
            old = self.inodes[ino]
            self.inodes[ino] = replace(old, data=old.data.copy() if old.data is not None else None)
            self._mine.add(ino)
        return self.inodes[ino]

    def apply(self, effect: Effect) -> None:
        if isinstance(effect, New):
            self.inodes[effect.ino] = Inode(
                effect.kind, effect.mode & 0o7777,
                PageStore(self.page_size) if effect.kind == "file" else None, 0, effect.target)
            self._mine.add(effect.ino)
            if effect.kind == "dir":
                self.children[effect.ino] = {}
                self._mine.add(-1 - effect.ino)
        elif isinstance(effect, Link):
            if effect.parent in self.inodes and effect.ino in self.inodes:
                self._dir(effect.parent)[effect.name] = effect.ino
        elif isinstance(effect, Unlink):
            if effect.name in self.children.get(effect.parent, {}):
                del self._dir(effect.parent)[effect.name]
        elif isinstance(effect, Mode):
            if effect.ino in self.inodes:
                self.inode(effect.ino).mode = effect.mode & 0o7777
        elif isinstance(effect, Size):
            node = self.inode(effect.ino)
            if node.data is not None:
                node.size = apply_size(node.data, node.size, effect)
        else:
            self._fill(effect)

    def _fill(self, effect: Fill) -> None:
        node = self.inode(effect.ino)
        if node.data is None:
            return
        ps = self.page_size
        if effect.garbage is None:
            node.data.zero_range(effect.start, effect.end - effect.start)
        else:
            first, last = -(-effect.start // ps), effect.end // ps - 1  # whole pages
            if first <= last:  # shared with every other state that keeps this unit
                node.data.put_pages(*garbage_run(effect.garbage, first, last, ps))
            for index in {effect.start // ps, (effect.end - 1) // ps}:
                if first <= index <= last:
                    continue  # a whole page, put above; only partial ones at either end
                lo = max(effect.start, index * ps) - index * ps
                hi = min(effect.end, (index + 1) * ps) - index * ps
                junk = garbage_page(effect.garbage, index, ps)
                node.data.write(index * ps + lo, junk[lo:hi])
        node.size = max(node.size, effect.end)

    def walk(self) -> Iterator[tuple[str, int]]:
        """Every reachable (path, inode), parents first, names sorted; a directory reached
        twice is walked once."""
        seen = {ROOT}
        stack = [(name, ino) for name, ino in sorted(self.children[ROOT].items(), reverse=True)]
        while stack:
            path, ino = stack.pop()
            node = self.inodes.get(ino)
            if node is None:
                continue
            if node.kind == "dir":
                if ino in seen:
                    continue
                seen.add(ino)
            yield path, ino
            if node.kind == "dir":
                stack.extend((f"{path}/{name}", child) for name, child in
                             sorted(self.children.get(ino, {}).items(), reverse=True))

    def image(self, overlays: Mapping[int, Sequence[PageOverlay]] | None = None
              ) -> tuple[Image, str]:
        """The disk as an `Image`, with the kept pages `overlays` (by inode) laid over the
        data, and its content key."""
        overlays = overlays or {}
        entries: list[Entry] = []
        first: dict[int, str] = {}
        total = 0
        for path, ino in self.walk():
            node = self.inodes[ino]
            if node.kind == "dir":
                entry = Entry(path, "dir", node.mode)
                total += digest_of(entry)
            elif node.kind == "symlink":
                entry = Entry(path, "symlink", node.mode, target=node.target)
                total += digest_of(entry)
            else:
                assert node.data is not None
                kept = overlays.get(ino, ())
                size = max([node.size, *(o.high for o in kept)])
                page_sum = node.data.hash_sum + sum(o.digest - node.data.hash_of(o.page)
                                                    for o in kept)
                pages = (Overlay(node.data.snapshot(), {o.page: o.latest for o in kept})
                         if kept else node.data.snapshot())
                entry = Entry(path, "file", node.mode, size, pages, link_to=first.get(ino))
                first.setdefault(ino, path)
                total += digest_of(entry, page_sum % HASH_MOD)
            entries.append(entry)
        return Image(self.page_size, tuple(entries)), key_hex(total)


@dataclass(frozen=True, slots=True)
class PageOverlay:
    """A kept page: its latest content and hash, and the size it implies (`high`)."""

    page: int
    latest: bytes | None
    digest: int
    high: int


def record(tree: Tree, op: Op) -> list[Effect]:
    """Apply `op` to the latest `tree`; return what it did as effects on inodes."""
    name = op.op
    if name in ("create", "mkdir", "symlink"):
        assert op.path is not None
        parent, child = tree.parent_of(op.path)
        tree.apply(op)
        node = tree.lookup(op.path)
        return [New(node.ino, node.kind, node.mode, node.target), Link(parent.ino, child, node.ino)]
    if name in ("unlink", "rmdir"):
        assert op.path is not None
        parent, child = tree.parent_of(op.path)
        tree.apply(op)
        return [Unlink(parent.ino, child)]
    if name == "link":
        assert op.src is not None and op.dst is not None
        src = tree.lookup(op.src)
        parent, child = tree.parent_of(op.dst)
        tree.apply(op)
        return [Link(parent.ino, child, src.ino)]
    if name == "rename":
        return _rename(tree, op)
    if name == "chmod":
        assert op.path is not None
        node = tree.lookup(op.path)
        tree.apply(op)
        return [Mode(node.ino, node.mode)]
    if name == "truncate":
        assert op.path is not None and op.size is not None
        node = tree.lookup(op.path)
        tree.apply(op)
        return [Size(node.ino, "truncate", size=op.size)]
    if name == "fallocate":
        assert op.path is not None and op.offset is not None
        node = tree.lookup(op.path)
        latest = node.size
        tree.apply(op)
        return [Size(node.ino, "fallocate", offset=op.offset, length=op.length,
                     mode=op.mode or 0, latest=latest)]
    tree.apply(op)
    return []


def _rename(tree: Tree, op: Op) -> list[Effect]:
    assert op.src is not None and op.dst is not None
    sparent, sname = tree.parent_of(op.src)
    node = tree.lookup(op.src)
    dparent, dname = tree.parent_of(op.dst)
    other = dparent.children.get(dname)
    tree.apply(op)
    if op.flags == "exchange":
        assert other is not None
        return [Link(sparent.ino, sname, other.ino), Link(dparent.ino, dname, node.ino)]
    if other is node:
        return []  # two names of one inode: nothing happens
    out: list[Effect] = []
    if other is not None:
        out.append(Unlink(dparent.ino, dname))
    return [*out, Unlink(sparent.ino, sname), Link(dparent.ino, dname, node.ino)]
