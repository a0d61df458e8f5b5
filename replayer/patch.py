"""Changing a tree written for one crash state into the next: only what differs is written.

`Patch` takes a directory that holds exactly the `Image` `old` (written by
`materialise` or an earlier patch, and touched by nothing else) and makes
it hold `new`: pages that differ (in runs: one `pwritev` or one hole punch
a run), sizes and modes that changed, and entries that came, went or
changed identity (kind, symlink target, which file a hard link names),
through the same O_NOFOLLOW directory descriptors as `materialise`.
`apart` estimates how far two images are, in pages, without comparing
them page by page, so a worker can pick the closest of its trees. Pure
file I/O on a tree of our own; it must never follow a path out of it.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from powercut.replayer.image import Entry, Image, differing_pages, page_count, pages_apart
from powercut.replayer.materialise import Writer, dirs_deepest_first, page_runs

_PUNCH = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
HOLD = ".powercut-moving"  # where files being moved wait, at the tree's root, during a patch
MOVE_PAGES = 64  # a file this large or larger is moved rather than written again
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def apart(old: Image, new: Image) -> int:
    """About how many pages differ between a tree holding `old` and `new`, either way: the
    pages writing `new` writes, and those of `old` it throws away (a worker keeps its trees
    for the states like them that follow). From page counts, shared page maps and a few pages
    compared, never page by page; a large file at another path is counted from the closest
    one where the patch would move it (see `Patch._moves`)."""
    return _one_way(old, new) + _one_way(new, old)


def _one_way(old: Image, new: Image) -> int:
    """The pages of `new`'s files that `old`'s do not have (see `apart`)."""
    before = {e.path: e for e in old.entries}
    spare = [e for e in old.entries if e.kind == "file" and e.link_to is None]
    total = 0
    for entry in new.entries:
        if entry.kind != "file" or entry.link_to is not None:
            continue
        was = before.get(entry.path)
        if was is not None and not _replaced(was, entry):
            total += pages_apart(was.pages, entry.pages)
            continue
        count = page_count(entry.pages)
        if count >= MOVE_PAGES and spare:
            count = min(count, *(pages_apart(e.pages, entry.pages) for e in spare))
        total += count
    return total


class Patch:
    """The tree at `base`, holding `old`, changed into `new`; `run()` returns the bytes it
    wrote."""

    def __init__(self, base: Path, old: Image, new: Image) -> None:
        self.base = base
        self.old = {e.path: e for e in old.entries}
        self.new = new
        self.page_size = new.page_size

    def run(self) -> int:
        after = {e.path: e for e in self.new.entries}
        # What sits under a directory that goes, and every other name of a file that goes,
        # is gone too: the new state names neither with the same identity.
        gone = {p for p, e in self.old.items() if _replaced(e, after.get(p))}
        moves = self._moves(gone, after)
        made: set[str] = set()
        root = os.open(self.base, _DIR)
        try:
            writer = Writer(root, self.page_size)
            if moves:  # out of the way of the removals, then into place below
                os.mkdir(HOLD, 0o700, dir_fd=root)
                for n, was in enumerate(moves.values()):
                    _rename(writer, was.path, f"{HOLD}/{n}")
            moved = {was.path for was in moves.values()}
            for path in reversed(list(self.old)):  # children before their parents
                if path in gone and path not in moved:
                    _unlink(writer, self.old[path])
            held = {path: n for n, path in enumerate(moves)}
            for entry in self.new.entries:
                before = self.old.get(entry.path)
                if entry.path in held:
                    _rename(writer, f"{HOLD}/{held[entry.path]}", entry.path)
                    self._file(writer, moves[entry.path], entry)
                    made.add(entry.path)
                elif before is None or entry.path in gone:
                    writer.add(entry)
                    made.add(entry.path)
                elif entry.kind == "file" and entry.link_to is None:
                    self._file(writer, before, entry)
            if moves:
                os.rmdir(HOLD, dir_fd=root)
            for entry in dirs_deepest_first(self.new.entries):
                before = self.old.get(entry.path)
                if entry.path in made or before is None or before.mode != entry.mode:
                    writer.set_dir_mode(entry)
            return writer.written
        finally:
            os.close(root)

    def _moves(self, gone: set[str], after: dict[str, Entry]) -> dict[str, Entry]:
        """Large files the new state has at a path where the old one had none, each with a
        file the old state had at a path that goes and whose pages are about the same: the
        file is renamed there and patched, not written again (ALICE's renames, in pieces, move
        a directory with a 64 MB WAL in it between its two names)."""
        if HOLD in after or HOLD in self.old:
            return {}
        spare = [e for p, e in self.old.items()
                 if p in gone and e.kind == "file" and e.link_to is None]
        moves: dict[str, Entry] = {}
        for entry in self.new.entries:
            if entry.kind != "file" or entry.link_to is not None or not spare or (
                    entry.path in self.old and entry.path not in gone):
                continue
            size = page_count(entry.pages)
            if size < MOVE_PAGES:
                continue
            apart_, was = min(((pages_apart(e.pages, entry.pages), e) for e in spare),
                              key=lambda pair: pair[0])
            if 2 * apart_ < size:
                moves[entry.path] = was
                spare.remove(was)
        return moves

    def _file(self, writer: Writer, old: Entry, new: Entry) -> None:
        ps = self.page_size
        changed = differing_pages(old.pages, new.pages)
        if new.size > old.size:  # pages past the old end were never written: write them
            first = old.size // ps
            changed.update(i for i in new.pages if i >= first)
        fd = writer.open(new.path, os.O_WRONLY)
        try:
            if new.size < old.size:
                os.ftruncate(fd, new.size)
            for first, count, pages in page_runs(changed, new.pages, new.size, ps):
                start = first * ps
                if pages:
                    writer.write_run(fd, start, pages)
                elif (end := min(start + count * ps, new.size, old.size)) > start:
                    _zero(writer, fd, start, end - start)  # zeros where the old state had data
            if new.size > old.size:
                os.ftruncate(fd, new.size)
            if new.mode != old.mode:
                os.fchmod(fd, new.mode)
        finally:
            os.close(fd)


def patchable(old: Image, new: Image) -> bool:
    """Whether the base can be patched in place: as root, or with every directory writable
    and searchable by its owner (a read-only directory would refuse our own changes)."""
    if os.geteuid() == 0:
        return True
    return all(e.mode & 0o700 == 0o700 for e in (*old.entries, *new.entries) if e.kind == "dir")


def _replaced(old: Entry, new: Entry | None) -> bool:
    """Whether the path must be removed and made again (not changed in place)."""
    return (new is None or new.kind != old.kind or new.link_to != old.link_to
            or (old.kind == "symlink" and new.target != old.target))


def _rename(writer: Writer, src: str, dst: str) -> None:
    src_parent, src_name = writer.parent(src)
    try:
        dst_parent, dst_name = writer.parent(dst)
        try:
            os.rename(src_name, dst_name, src_dir_fd=src_parent, dst_dir_fd=dst_parent)
        finally:
            writer.done(dst_parent)
    finally:
        writer.done(src_parent)


def _unlink(writer: Writer, entry: Entry) -> None:
    parent, name = writer.parent(entry.path)
    try:
        if entry.kind == "dir":
            os.rmdir(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)
    finally:
        writer.done(parent)


def _zero(writer: Writer, fd: int, offset: int, length: int) -> None:
    """Bytes [offset, offset+length) read as zeros again: a hole where the file system can."""
    if _libc.fallocate(fd, _PUNCH, offset, length) != 0:
        writer.write(fd, offset, bytes(length))


