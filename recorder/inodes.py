"""The recorder's inode table: FUSE inode numbers, names, paths and open handles.

The kernel speaks in inode numbers; the trace speaks in paths *as they are
at the moment of each operation*. So this table keeps a tree of
(parent inode, name) links, never a path per inode or per handle, and
derives a path on demand: renaming a directory moves one link and every
file under it (a write-ahead log kept open under `wal.tmp` while it is renamed to `wal`)
follows at once. Hard links give one node several links; its path is the
oldest surviving one.

A node that loses its last link while still open is an *orphan*: it keeps
the path it had when it was unlinked (`orphan_path`), and the recorder
marks operations on it with `"orphan": true` (the replayer ignores them,
since nothing visible can change through a file no name reaches).

This module is plain Python: no FUSE, no I/O, testable without a mount. It
must never guess: a name or inode it does not know is a `KeyError` for the
caller to turn into ENOENT.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

ROOT_INODE = 1  # pyfuse3.ROOT_INODE; repeated so this module needs no FUSE.

Link = tuple[int, str]  # (parent inode, name)


@dataclass(eq=False, slots=True)
class Node:
    """One inode as the kernel knows it."""

    ino: int
    backing_ino: int
    is_dir: bool
    links: dict[Link, None] = field(default_factory=dict)  # an ordered set
    lookups: int = 0  # the kernel's lookup count (pyfuse3 `forget` contract)
    handles: set[int] = field(default_factory=set)  # open file handles on this node
    orphan_path: str | None = None  # path at the moment the last link went


class InodeTable:
    """Inodes, their links, and the paths derived from them."""

    def __init__(self, root_backing_ino: int) -> None:
        self._numbers = itertools.count(ROOT_INODE + 1)
        root = Node(ROOT_INODE, root_backing_ino, True, lookups=1)
        self.nodes: dict[int, Node] = {ROOT_INODE: root}
        self.children: dict[int, dict[str, int]] = {ROOT_INODE: {}}
        # Backing inode number -> our node, only while the backing inode is
        # alive (linked or held open): a freed backing number can be reused.
        self._by_backing: dict[int, int] = {root_backing_ino: ROOT_INODE}

    # ------------------------------------------------------------------ queries

    def node(self, ino: int) -> Node:
        return self.nodes[ino]

    def child(self, parent: int, name: str) -> int | None:
        return self.children.get(parent, {}).get(name)

    def path(self, ino: int) -> str:
        """The node's current path relative to the mount root ("" for the root).

        Raises KeyError for a node no link reaches (an orphan, or a child of
        a removed directory).
        """
        parts: list[str] = []
        seen = 0
        while ino != ROOT_INODE:
            node = self.nodes[ino]
            if not node.links:
                raise KeyError(ino)
            ino, name = next(iter(node.links))
            parts.append(name)
            seen += 1
            if seen > len(self.nodes):  # a cycle would be a bug in this table
                raise KeyError(ino)
        return "/".join(reversed(parts))

    def child_path(self, parent: int, name: str) -> str:
        base = self.path(parent)
        return f"{base}/{name}" if base else name

    def trace_path(self, ino: int) -> tuple[str, bool]:
        """(path to record, is orphan) for an operation on an open node."""
        node = self.nodes[ino]
        if node.links:
            return self.path(ino), False
        if node.orphan_path is None:
            raise KeyError(ino)
        return node.orphan_path, True

    # ------------------------------------------------------------------ changes

    def remember(self, parent: int, name: str, backing_ino: int, is_dir: bool) -> Node:
        """Record that `name` in `parent` is the backing inode `backing_ino`; count a lookup.

        Every successful lookup, create, mkdir, symlink, link and readdirplus
        entry goes through here, as each raises the kernel's lookup count.
        """
        ino = self._by_backing.get(backing_ino)
        node = self.nodes.get(ino) if ino is not None else None
        if node is None or node.is_dir != is_dir:
            node = Node(next(self._numbers), backing_ino, is_dir)
            self.nodes[node.ino] = node
            self._by_backing[backing_ino] = node.ino
            if is_dir:
                self.children[node.ino] = {}
        old = self.child(parent, name)
        if old is not None and old != node.ino:
            self._drop_link(old, (parent, name))
        self._add_link(node, (parent, name))
        node.lookups += 1
        return node

    def unlink(self, parent: int, name: str) -> None:
        """Remove one name (unlink, rmdir). Unknown names are fine: nothing to do."""
        ino = self.child(parent, name)
        if ino is not None:
            self._drop_link(ino, (parent, name))

    def rename(self, parent_old: int, name_old: str, parent_new: int, name_new: str,
               exchange: bool = False) -> None:
        """Move a link; the target's link (if any) is dropped, or swapped for `exchange`."""
        moved = self.child(parent_old, name_old)
        target = self.child(parent_new, name_new)
        if moved is not None:
            del self.children[parent_old][name_old]
            del self.nodes[moved].links[(parent_old, name_old)]
        if target is not None:
            del self.children[parent_new][name_new]
            del self.nodes[target].links[(parent_new, name_new)]
            if exchange:
                self._add_link(self.nodes[target], (parent_old, name_old))
            else:
                self._orphan_if_unlinked(target, self._try_path(parent_new, name_new))
        if moved is not None:
            self._add_link(self.nodes[moved], (parent_new, name_new))

    def forget(self, ino: int, count: int) -> None:
        node = self.nodes.get(ino)
        if node is None or ino == ROOT_INODE:
            return
        node.lookups = max(0, node.lookups - count)
        self._maybe_free(node)

    def opened(self, ino: int, fh: int) -> None:
        self.nodes[ino].handles.add(fh)

    def released(self, ino: int, fh: int) -> None:
        node = self.nodes.get(ino)
        if node is not None:
            node.handles.discard(fh)
            if not node.links and not node.handles:
                self._forget_backing(node)  # the last fd on an unlinked file closed
            self._maybe_free(node)

    # ------------------------------------------------------------------ internals

    def _add_link(self, node: Node, link: Link) -> None:
        node.links[link] = None
        node.orphan_path = None
        self.children.setdefault(link[0], {})[link[1]] = node.ino

    def _try_path(self, parent: int, name: str) -> str | None:
        try:
            return self.child_path(parent, name)
        except KeyError:
            return None

    def _drop_link(self, ino: int, link: Link) -> None:
        path = self._try_path(*link)
        del self.children[link[0]][link[1]]
        node = self.nodes[ino]
        node.links.pop(link, None)
        self._orphan_if_unlinked(ino, path)

    def _orphan_if_unlinked(self, ino: int, path: str | None) -> None:
        node = self.nodes[ino]
        if node.links:
            return
        node.orphan_path = path
        if not node.handles:
            # The backing inode is gone: its number may be handed out again.
            self._forget_backing(node)
        self._maybe_free(node)

    def _forget_backing(self, node: Node) -> None:
        if self._by_backing.get(node.backing_ino) == node.ino:
            del self._by_backing[node.backing_ino]

    def _maybe_free(self, node: Node) -> None:
        """Drop a node the kernel no longer knows and no handle holds."""
        if node.lookups or node.handles:
            return
        if not node.links:
            self._forget_backing(node)
        elif node.is_dir and self.children.get(node.ino):
            return  # its known children still derive their paths through it
        parents = [parent for parent, _ in node.links]
        for link in list(node.links):
            del self.children[link[0]][link[1]]
        self._forget_backing(node)
        del self.nodes[node.ino]
        self.children.pop(node.ino, None)
        for parent in parents:  # a parent kept only for this child may go now
            if parent in self.nodes and parent != ROOT_INODE:
                self._maybe_free(self.nodes[parent])
