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
from collections.abc import Iterator
from pathlib import Path

from powercut.replayer.image import Entry, Image, differing_pages, page_count, pages_apart
from powercut.replayer.materialise import Writer, dirs_deepest_first

_PUNCH = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_RUN = 1024  # pages a run writes at most (IOV_MAX)
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def apart(old: Image, new: Image) -> int:
    """About how many pages writing `new` over a tree holding `old` writes (a lower bound
    from page counts and shared page maps, never a page-by-page comparison)."""
    before = {e.path: e for e in old.entries}
    total = 0
    for entry in new.entries:
        if entry.kind != "file" or entry.link_to is not None:
            continue
        was = before.get(entry.path)
        if was is None or _replaced(was, entry):
            total += page_count(entry.pages)
        else:
            total += pages_apart(was.pages, entry.pages)
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
        made: set[str] = set()
        root = os.open(self.base, _DIR)
        try:
            writer = Writer(root, self.page_size)
            for path in reversed(list(self.old)):  # children before their parents
                if path in gone:
                    _unlink(writer, self.old[path])
            for entry in self.new.entries:
                before = self.old.get(entry.path)
                if before is None or entry.path in gone:
                    writer.add(entry)
                    made.add(entry.path)
                elif entry.kind == "file" and entry.link_to is None:
                    self._file(writer, before, entry)
            for entry in dirs_deepest_first(self.new.entries):
                before = self.old.get(entry.path)
                if entry.path in made or before is None or before.mode != entry.mode:
                    writer.set_dir_mode(entry)
            return writer.written
        finally:
            os.close(root)

    def _file(self, writer: Writer, old: Entry, new: Entry) -> None:
        ps = self.page_size
        changed = differing_pages(old.pages, new.pages)
        if new.size > old.size:  # pages past the old end were never written: write them
            first = old.size // ps
            changed.update(i for i in new.pages if i >= first)
        parent, name = writer.parent(new.path)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        finally:
            writer.done(parent)
        try:
            if new.size < old.size:
                os.ftruncate(fd, new.size)
            for first, count, pages in _runs(changed, new, ps):
                start = first * ps
                if pages:
                    _write_all(writer, fd, start, pages)
                elif (end := min(start + count * ps, new.size, old.size)) > start:
                    _zero(writer, fd, start, end - start)  # zeros where the old state had data
            if new.size > old.size:
                os.ftruncate(fd, new.size)
            if new.mode != old.mode:
                os.fchmod(fd, new.mode)
        finally:
            os.close(fd)


def _runs(changed: set[int], new: Entry, ps: int) -> Iterator[tuple[int, int, list[bytes]]]:
    """The changed pages inside the new size as runs of consecutive indices, each either all
    present in `new` (their bytes, the last one cut at the size) or all absent (no bytes):
    one system call a run, not one a page (a 64 MiB file is 16,384 pages)."""
    size = new.size
    first, count, pages, present = -1, 0, [], False
    for index in sorted(changed):
        start = index * ps
        if start >= size:
            break
        page = new.pages.get(index)
        if count and index == first + count and (page is not None) == present \
                and count < _RUN:
            count += 1
        else:
            if count:
                yield first, count, pages
            first, count, pages, present = index, 1, [], page is not None
        if page is not None:
            pages.append(page[:size - start] if start + ps > size else page)
    if count:
        yield first, count, pages


def _write_all(writer: Writer, fd: int, offset: int, pages: list[bytes]) -> None:
    """All of `pages`, back to back from `offset`, in one `pwritev` (more if it falls short)."""
    total = sum(len(p) for p in pages)
    done = os.pwritev(fd, pages, offset)
    writer.written += done
    if done < total:
        rest = b"".join(pages)[done:]
        writer.write(fd, offset + done, rest)


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


