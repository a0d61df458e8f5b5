"""Crash images that recover to the same tree are judged once.

A kernel trace's crash states differ in which image blocks reached the
disk, but most of those differences vanish in recovery: a journal block of
a transaction whose commit block was lost, a log write the log recovery
discards, a block the file system wrote twice. What the program sees is
the recovered tree, so two states with the same recovered tree (and the
same acknowledgements to check) get the same verdict: the program is run
on the first and its verdict reused for the others, which costs a mount
and a walk of the tree instead of a start of the program (and, for a hang,
its whole deadline).

`tree_key` names what a program can see of a tree: every path, its kind,
mode, owner, size, link count, modification time, symlink target and
content. Content is hashed over the allocated extents only (SEEK_DATA), so
a 64 MiB preallocated log costs its few written pages.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from powercut.explorer.verdict import Verdict
from powercut.sparse import data_extents
from powercut.trace import Op

CHUNK = 1 << 20


def _content(path: str, size: int, h: hashlib._Hash) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for start, end in data_extents(fd, size):
            h.update(f"@{start}".encode())
            at = start
            while at < end:
                data = os.pread(fd, min(CHUNK, end - at), at)
                if not data:
                    break
                h.update(data)
                at += len(data)
    finally:
        os.close(fd)


def tree_key(root: Path, markers: Sequence[Op] = ()) -> str:
    """A key of everything a program sees of the tree under `root`, and of the markers."""
    h = hashlib.blake2b(digest_size=20)
    for m in markers:
        h.update(f"marker {m.seq} {m.text}\n".encode())
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            h.update(f"\0{rel}/{name} {st.st_mode:o} {st.st_uid}:{st.st_gid} {st.st_size} "
                     f"{st.st_nlink if not stat.S_ISDIR(st.st_mode) else 0} "
                     f"{st.st_mtime_ns}\n".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.fsencode(os.readlink(full)))
            elif stat.S_ISREG(st.st_mode):
                _content(full, st.st_size, h)
    return h.hexdigest()


class Judged:
    """Verdicts by recovered tree, at most `size` of them (the least used go first).

    A hang judged within a deadline says nothing about a longer one: it is
    reused only for a check given no more time than it had (a hang being
    confirmed at the full timeout runs the program again).
    """

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._verdicts: OrderedDict[str, tuple[Verdict, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.reused = 0

    def get(self, key: str, limit: float) -> Verdict | None:
        with self._lock:
            found = self._verdicts.get(key)
            if found is None or (found[0].verdict == "hang" and found[1] < limit):
                return None
            self._verdicts.move_to_end(key)
            self.reused += 1
            return found[0]

    def put(self, key: str, verdict: Verdict, limit: float) -> None:
        with self._lock:
            self._verdicts[key] = (verdict, limit)
            while len(self._verdicts) > self.size:
                self._verdicts.popitem(last=False)
