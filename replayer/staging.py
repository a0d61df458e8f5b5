"""Crash states written by difference: a worker keeps its last state and writes what changes.

A checker writes into the directory it is given (a database replays its
log, a server appends to its own), so a worker cannot simply patch the tree it
gave the last check. A `Staging` belongs to one worker and keeps a pristine
*base* that no checker ever sees: the last state it entered. `enter(state)`
brings the base to the new state by writing only what differs from the
last one (changed pages, sizes and modes; files, links, symlinks and
directories that came, went or changed identity), then hands out a fresh
copy of the base whose files are reflink clones (a clone of a 1 GiB file
shares its blocks: a few extents, not a gigabyte of writes). `leave()`
removes the copy; `close()` removes everything.

Where the directory's file system cannot clone (ext4, tmpfs) there is no
base: `enter` materialises the state in full, as `materialise` always did,
and `reflinks` says so (the explorer then offers the worker a scratch XFS
volume, see `powercut.volume`). The tree handed out is byte for byte what
`materialise` writes, with the same path safety (every step through
O_NOFOLLOW directory descriptors) and the same errors. Any failure while
patching the base discards it: the next state is written in full.

The state is an `Image` (any files, pages, links), so this works for a
kernel file system's crash image (one large file) as for a program's data
directory. One `Staging` is used by one thread at a time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from powercut.replayer.image import Entry, Image, differing_pages
from powercut.replayer.materialise import (
    Writer,
    check_entries,
    dirs_deepest_first,
    failure,
    image_of,
    materialise,
)
from powercut.replayer.state import CrashState

FICLONE = 0x40049409  # _IOW(0x94, 9, int)
_PUNCH = 0x01 | 0x02  # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NO_CLONE = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS}
_RUN = 1024  # pages a run writes at most (IOV_MAX)
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def can_clone(directory: Path) -> bool:
    """Whether the file system at `directory` makes reflink clones (tried on two files)."""
    probe = Path(directory) / ".powercut-clone-probe"
    try:
        with open(probe, "w+b") as src, open(f"{probe}.copy", "wb") as dst:
            src.write(b"x")
            src.flush()
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
        return True
    except OSError as e:
        if e.errno in _NO_CLONE:
            return False
        raise
    finally:
        for path in (probe, Path(f"{probe}.copy")):
            path.unlink(missing_ok=True)


class Staging:
    """One worker's crash states on disk under `directory`, each written as a difference."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.reflinks = can_clone(self.directory)
        self.base = self.directory / "base"
        self._image: Image | None = None  # what the base holds (None: nothing to trust)
        self._current: Path | None = None
        self._copies = itertools.count()
        # Counts of the work done, for benches and tests.
        self.written = 0  # bytes of file data written (base and full materialisations)
        self.last_written = 0  # ... for the last state entered
        self.in_full = 0  # states written in full
        self.patched = 0  # states reached by patching the base

    def enter(self, state: CrashState | Image) -> Path:
        """A fresh directory holding exactly `state`, for the caller to use and change."""
        self.leave()
        image = image_of(state)
        target = self.directory / f"state-{next(self._copies)}"
        self._current = target
        if not self.reflinks:
            done = materialise(image, target)
            self._count(done.written, full=True)
            return target
        self._update_base(image)
        self._clone(image, target)
        return target

    def leave(self) -> None:
        """The caller is done with the directory `enter` gave: it is removed."""
        if self._current is not None:
            current, self._current = self._current, None
            _remove(current)

    def close(self) -> None:
        """Remove the copy, the base and the directory."""
        self.leave()
        self._image = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def _count(self, written: int, *, full: bool) -> None:
        self.written += written
        self.last_written = written
        if full:
            self.in_full += 1
        else:
            self.patched += 1

    # --- the base -------------------------------------------------------------------------

    def _update_base(self, image: Image) -> None:
        old, self._image = self._image, None  # untrusted until the update is complete
        if old is not None and old.page_size == image.page_size and _patchable(old, image):
            check_entries(image.entries)
            try:
                self._count(_Patch(self.base, old, image).run(), full=False)
                self._image = image
                return
            except OSError:
                pass  # written in full below: that raises the proper error, if any
        _remove(self.base)
        done = materialise(image, self.base)
        self._count(done.written, full=True)
        self._image = image

    # --- the copy for the check -----------------------------------------------------------

    def _clone(self, image: Image, target: Path) -> None:
        target.mkdir()
        current = ""
        with _opened(target) as root, _opened(self.base) as base:
            out, src = Writer(root, image.page_size), Writer(base, image.page_size)
            try:
                for entry in image.entries:
                    current = entry.path
                    if entry.kind == "file" and entry.link_to is None:
                        _clone_file(src, out, entry)
                    else:
                        out.add(entry)
                for entry in dirs_deepest_first(image.entries):
                    current = entry.path
                    out.set_dir_mode(entry)
            except OSError as e:
                raise failure(e, current, target) from None


class _Patch:
    """The base, holding `old`, changed into `new`; `run()` returns the bytes it wrote."""

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
        with _opened(self.base) as root:
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


def _patchable(old: Image, new: Image) -> bool:
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


def _clone_file(src: Writer, out: Writer, entry: Entry) -> None:
    """`entry`'s file in the copy, a reflink clone of the base's (blocks shared)."""
    parent, name = src.parent(entry.path)
    try:
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    finally:
        src.done(parent)
    try:
        parent, name = out.parent(entry.path)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o600, dir_fd=parent)
        finally:
            out.done(parent)
        try:
            fcntl.ioctl(fd, FICLONE, source)
            os.fchmod(fd, entry.mode)
        finally:
            os.close(fd)
    finally:
        os.close(source)


@contextlib.contextmanager
def _opened(directory: Path) -> Iterator[int]:
    fd = os.open(directory, _DIR)
    try:
        yield fd
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Remove a tree we wrote or handed out, read-only directories included."""
    if not os.path.lexists(path):
        return

    def writable(func, target, _exc):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(target), 0o700)
            func(target)

    shutil.rmtree(path, onerror=writable)
