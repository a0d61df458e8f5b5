"""Write a crash state to a real directory, and never anywhere else.

Files stay sparse (only non-zero pages are written, then `ftruncate` sets
the size: a 64 MB preallocated log costs a few blocks), modes are
kept, hard links and symlinks are recreated. Whatever the trace says, no
byte lands outside the target: every path is checked again, every step goes
through directory descriptors opened with O_NOFOLLOW (a symlink in the
state is never followed, not even one it created itself), files are created
with O_EXCL, and symlinks whose target would point outside the tree are
refused. This module must never delete or overwrite anything that exists.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from powercut.errors import DiskFull, PowercutError, TraceError
from powercut.replayer.image import Entry, Image
from powercut.replayer.models.base import StateImage
from powercut.replayer.state import CrashState
from powercut.trace import check_path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# errnos that mean the state's own paths are unsafe or contradictory.
_RUN = 1024  # pages a run writes at most (IOV_MAX)
_PATH_ERRNOS = {errno.ELOOP, errno.ENOTDIR, errno.EEXIST, errno.ENOENT, errno.EISDIR}


@dataclass(frozen=True)
class Materialised:
    """What `materialise` wrote: counts for a one-line summary."""

    target: Path
    files: int
    dirs: int
    symlinks: int
    bytes: int  # sum of file sizes (apparent, not blocks)
    written: int = 0  # bytes of file data actually written (sparse files write less)


_MAX_HOPS = 40  # as the kernel: past this a lookup fails with ELOOP, so goes nowhere


class TooLarge(PowercutError):
    """A legal state with a file larger than the target file system allows (ext4: 16 TiB)."""


def check_symlinks(entries: tuple[Entry, ...]) -> None:
    """Refuse a state in which some symlink resolves outside the tree.

    Resolution follows the kernel's, over the state's own symlinks: a '..'
    after a symlink climbs from where the symlink points, not from where it
    sits, so a lexical check of each target alone would be fooled by chains
    (`d/s -> ..` and `x -> d/s/..`).
    """
    links = {e.path: e.target for e in entries if e.kind == "symlink"}
    for path, target in links.items():
        if _escapes(path.split("/")[:-1], target, links):
            raise TraceError(f"symlink {path!r} -> {target!r} points outside the state")


def check_entries(entries: tuple[Entry, ...]) -> None:
    """Every path safe, and a hard link only to a regular file written before it."""
    files: set[str] = set()
    for entry in entries:
        check_path(entry.path, "state path")
        if entry.link_to is not None and entry.link_to not in files:
            raise TraceError(f"{entry.path!r} links to {entry.link_to!r}, "
                             "which is not a file written before it")
        if entry.kind == "file":
            files.add(entry.path)
    check_symlinks(entries)


def _escapes(start: list[str], target: str, links: dict[str, str]) -> bool:
    if not target or target.startswith("/") or "\0" in target:
        return True
    stack, parts, hops = list(start), target.split("/"), 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return True
            stack.pop()
            continue
        link = links.get("/".join([*stack, part]))
        if link is None:
            stack.append(part)
            continue
        hops += 1
        if hops > _MAX_HOPS:
            return False
        if link.startswith("/"):
            return True
        parts = link.split("/") + parts
    return False


def _prepare_target(target: Path) -> int:
    try:
        target.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise PowercutError(f"cannot use {target} as the target directory: {e.strerror}") from None
    if os.listdir(fd):
        os.close(fd)
        raise PowercutError(f"target directory {target} is not empty; pass an empty or new one")
    return fd


class Writer:
    """Creates entries under one root descriptor, one O_NOFOLLOW step at a time (also used
    by `staging`, which changes a tree it wrote into the next state)."""

    def __init__(self, root_fd: int, page_size: int) -> None:
        self.root_fd = root_fd
        self.page_size = page_size
        self.written = 0  # bytes of file data written (a measure of the work done)

    def parent(self, path: str) -> tuple[int, str]:
        """An open descriptor of `path`'s parent (caller closes it unless root) and the name."""
        *dirs, name = path.split("/")
        fd = self.root_fd
        for part in dirs:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            if fd != self.root_fd:
                os.close(fd)
            fd = nxt
        return fd, name

    def done(self, fd: int) -> None:
        """Close a descriptor `parent` returned."""
        if fd != self.root_fd:
            os.close(fd)

    def open(self, path: str, flags: int, mode: int = 0o600) -> int:
        """An open descriptor of `path` under the root (`flags` with O_NOFOLLOW and
        O_CLOEXEC added: never through a symlink, never inherited)."""
        parent, name = self.parent(path)
        try:
            return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent)
        finally:
            self.done(parent)

    def add(self, entry: Entry) -> None:
        parent, name = self.parent(entry.path)
        try:
            if entry.kind == "dir":
                os.mkdir(name, 0o700, dir_fd=parent)
            elif entry.kind == "symlink":
                os.symlink(entry.target, name, dir_fd=parent)
            elif entry.link_to is not None:
                src_parent, src_name = self.parent(entry.link_to)
                try:
                    os.link(src_name, name, src_dir_fd=src_parent, dst_dir_fd=parent,
                            follow_symlinks=False)
                finally:
                    self.done(src_parent)
            else:
                self._write_file(parent, name, entry)
        finally:
            self.done(parent)

    def _write_file(self, parent: int, name: str, entry: Entry) -> None:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            ps = self.page_size
            for first, _, pages in page_runs(entry.pages, entry.pages, entry.size, ps):
                self.write_run(fd, first * ps, pages)
            os.ftruncate(fd, entry.size)
            os.fchmod(fd, entry.mode)
        finally:
            os.close(fd)

    def write(self, fd: int, offset: int, data: bytes) -> None:
        """All of `data` at `offset` of the open file `fd`."""
        view = memoryview(data)
        while view:
            view = view[os.pwrite(fd, view, offset + len(data) - len(view)):]
        self.written += len(data)

    def write_run(self, fd: int, offset: int, pages: list[bytes]) -> None:
        """`pages` back to back from `offset`, in one `pwritev` (more if it falls short)."""
        done = os.pwritev(fd, pages, offset)
        self.written += done
        if done < sum(len(p) for p in pages):
            self.write(fd, offset + done, b"".join(pages)[done:])

    def set_dir_mode(self, entry: Entry) -> None:
        fd = self.open(entry.path, _DIR_FLAGS)
        try:
            os.fchmod(fd, entry.mode)
        finally:
            os.close(fd)


def page_runs(indices: Iterable[int], pages: Mapping[int, bytes], size: int, ps: int
              ) -> Iterator[tuple[int, int, list[bytes]]]:
    """The pages `indices` below `size` as runs of consecutive indices, each either all
    present in `pages` (their bytes, the last one cut at the size) or all absent (no bytes):
    one system call a run, not one a page (a 64 MiB file is 16,384 pages)."""
    first, count, run, present = -1, 0, [], False
    for index in sorted(indices):
        start = index * ps
        if start >= size:
            break
        page = pages.get(index)
        if count and index == first + count and (page is not None) == present \
                and count < _RUN:
            count += 1
        else:
            if count:
                yield first, count, run
            first, count, run, present = index, 1, [], page is not None
        if page is not None:
            run.append(page[:size - start] if start + ps > size else page)
    if count:
        yield first, count, run


def image_of(state: CrashState | Image) -> Image:
    """The image to write for `state` (built now if it is built on demand)."""
    image = state.image if isinstance(state, CrashState) else state
    if isinstance(image, StateImage):
        image = image.build()
    if not isinstance(image, Image):
        raise PowercutError("this crash state carries no image to materialise")
    return image


def failure(e: OSError, current: str, target: Path) -> PowercutError:
    """The error to raise for `e`, met while writing `current` under `target`."""
    if e.errno in _PATH_ERRNOS:
        return TraceError(f"cannot materialise {current!r} under {target}: {e.strerror} "
                          "(the state's paths are unsafe or contradictory)")
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"no space left to materialise {current!r} under {target} "
                        f"({e.strerror})")
    if e.errno == errno.EFBIG:
        return TooLarge(f"cannot materialise {current!r} under {target}: the file system "
                        "there cannot hold a file this large; materialise onto one that can, "
                        "such as xfs or btrfs (TMPDIR for explore)")
    return PowercutError(f"cannot materialise {current!r} under {target}: {e.strerror}")


def dirs_deepest_first(entries: tuple[Entry, ...]) -> list[Entry]:
    """Directory modes are set last, deepest first: a read-only directory must not stop its
    own children from being written."""
    return sorted((e for e in entries if e.kind == "dir"), key=lambda e: e.path.count("/"),
                  reverse=True)


def materialise(state: CrashState | Image, target: Path | str) -> Materialised:
    """Write `state` under `target` (created if missing; must be empty)."""
    image = image_of(state)
    target = Path(target)
    check_entries(image.entries)
    root_fd = _prepare_target(target)
    writer = Writer(root_fd, image.page_size)
    current = ""
    try:
        for entry in image.entries:
            current = entry.path
            writer.add(entry)
        for entry in dirs_deepest_first(image.entries):
            current = entry.path
            writer.set_dir_mode(entry)
    except OSError as e:
        raise failure(e, current, target) from None
    finally:
        os.close(root_fd)
    entries = image.entries
    return Materialised(target, sum(e.kind == "file" for e in entries),
                        sum(e.kind == "dir" for e in entries),
                        sum(e.kind == "symlink" for e in entries), image.bytes, writer.written)
