"""Crash states written by difference: a worker keeps its last state and writes what changes.

A checker writes into the directory it is given (a database replays its
log, a server appends to its own), so a worker cannot simply patch the tree it
gave the last check. A `Staging` belongs to one worker and keeps a pristine
*base* that no checker ever sees: the last state it entered, or rather the
last `BASES` that differed much (ALICE's states of a server's bootstrap
may hold its 64 MB write-ahead log as garbage or as zeros, by turns: each
kind keeps a base of its own). `enter(state)` brings the closest base to the new state by
writing only what differs (see `patch`: changed pages, sizes and modes;
files, links, symlinks and directories that came, went or changed
identity), then hands out a fresh copy of it whose files are reflink
clones (a clone of a 1 GiB file shares its blocks: a few extents, not a
gigabyte of writes). `leave()` removes the copy; `close()` removes
everything.

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
import errno
import fcntl
import itertools
import os
import queue
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from powercut.replayer.image import Entry, Image
from powercut.replayer.materialise import (
    Writer,
    check_entries,
    dirs_deepest_first,
    failure,
    image_of,
    materialise,
)
from powercut.replayer.patch import Patch, apart, patchable
from powercut.replayer.state import CrashState

FICLONE = 0x40049409  # _IOW(0x94, 9, int)
BASES = 3  # bases a worker keeps
FAR = 8 << 20  # bytes: a state this far from every base gets one of its own, if there is room
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NO_CLONE = {errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS}


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


class _Remover:
    """Removes the trees checks are done with, beside the worker: a clone's files take a few
    milliseconds each to unlink. Its thread is started by the worker's own thread, so it
    sees what that thread sees (a scratch volume in its mount namespace). At most `BEHIND`
    trees wait; past that the worker removes its own."""

    BEHIND = 4

    def __init__(self) -> None:
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def remove(self, path: Path) -> None:
        if self._queue.qsize() >= self.BEHIND:
            _remove(path)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="powercut-remover",
                                            daemon=True)
            self._thread.start()
        self._queue.put(path)

    def _run(self) -> None:
        while (path := self._queue.get()) is not None:
            _remove(path)

    def close(self) -> None:
        """Every tree handed over is gone when this returns."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


@dataclass
class _Base:
    """A pristine tree of one state, never handed out."""

    path: Path
    image: Image | None = None  # what it holds (None: nothing to trust)
    used: int = 0


class Staging:
    """One worker's crash states on disk under `directory`, each written as a difference."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.reflinks = can_clone(self.directory)
        self._bases: list[_Base] = []
        self._current: Path | None = None
        self._remover = _Remover()
        self._copies = itertools.count()
        self._clock = itertools.count(1)
        # Counts of the work done, for benches and tests.
        self.written = 0  # bytes of file data written (bases and full materialisations)
        self.last_written = 0  # ... for the last state entered
        self.in_full = 0  # states written in full
        self.patched = 0  # states reached by patching a base
        self.base: Path | None = None  # the base the last state was cloned from

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
        base = self._closest(image)
        self._update(base, image)
        self._clone(base, image, target)
        self.base = base.path
        return target

    def leave(self) -> None:
        """The caller is done with the directory `enter` gave: it is removed (by a thread of
        this staging's own, off the worker's way; see `_Remover`)."""
        if self._current is not None:
            current, self._current = self._current, None
            self._remover.remove(current)

    def close(self) -> None:
        """Remove the copy, the bases and the directory."""
        self.leave()
        self._remover.close()
        self._bases = []
        shutil.rmtree(self.directory, ignore_errors=True)

    def _count(self, written: int, *, full: bool) -> None:
        self.written += written
        self.last_written = written
        if full:
            self.in_full += 1
        else:
            self.patched += 1

    # --- the bases ------------------------------------------------------------------------

    def _closest(self, image: Image) -> _Base:
        """The base that the fewest page writes turn into `image`; when every base is `FAR`
        from it, a new one while there is room, else the least recently used (the others
        keep what they hold, for the states like them that will follow)."""
        scored = [(apart(b.image, image) if b.image is not None and
                   b.image.page_size == image.page_size else 1 << 62, -b.used, b)
                  for b in self._bases]
        best = min(scored, key=lambda s: s[:2], default=None)
        if best is not None and best[0] * image.page_size < FAR:
            base = best[2]
        elif len(self._bases) < BASES:
            base = _Base(self.directory / f"base-{len(self._bases)}")
            self._bases.append(base)
        else:
            base = min(self._bases, key=lambda b: b.used)
        base.used = next(self._clock)
        return base

    def _update(self, base: _Base, image: Image) -> None:
        old, base.image = base.image, None  # untrusted until the update is complete
        if old is not None and old.page_size == image.page_size and patchable(old, image):
            check_entries(image.entries)
            try:
                self._count(Patch(base.path, old, image).run(), full=False)
                base.image = image
                return
            except OSError:
                pass  # written in full below: that raises the proper error, if any
        _remove(base.path)
        done = materialise(image, base.path)
        self._count(done.written, full=True)
        base.image = image

    # --- the copy for the check -----------------------------------------------------------

    def _clone(self, base: _Base, image: Image, target: Path) -> None:
        target.mkdir()
        current = ""
        with _opened(target) as root, _opened(base.path) as src_root:
            out, src = Writer(root, image.page_size), Writer(src_root, image.page_size)
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


def _clone_file(src: Writer, out: Writer, entry: Entry) -> None:
    """`entry`'s file in the copy, a reflink clone of the base's (blocks shared)."""
    source = src.open(entry.path, os.O_RDONLY)
    try:
        fd = out.open(entry.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
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
