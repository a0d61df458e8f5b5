"""Clean up after an exploration that was killed outright: its checkers' programs and work dir.

Each exploration's work dir (`powercut-explore-*` under $TMPDIR or
`--workdir`) holds a lock file on which its owner keeps an exclusive flock
for as long as it lives (`claim`); the kernel drops the lock when the owner
dies, however it dies. Liveness is that lock and nothing else: a pid and
its start time mean nothing across PID namespaces (containers) that share
a $TMPDIR. An exploration killed with SIGKILL removes nothing, and its
checkers' programs run on in their own sessions (a server would run for
ever). The next exploration that works in the same parent directory takes
the lock of each work dir it can (`reap`): those owners are gone. It kills
every process that names such a dir on its command line (a server's data
dir, a command's `{dir}`) together with its process group, and removes the
dir.

It must never touch a work dir whose owner is alive or unknown (no lock
file yet, one it cannot open), nor a process that does not name a dead
owner's dir, nor its own process group. A dead owner's crash images (a
kernel file-system trace's) are unmounted and their loop devices detached
before its dir is removed; its guardian (`powercut.guard`) normally did
that already, at the moment it died. The lock descriptor is close-on-exec:
a checker's program must not keep its owner's dir alive after the owner.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import threading
from pathlib import Path

from powercut import guard
from powercut.kernelfs import loop
from powercut.kernelfs.mounting import unmount_under
from powercut.process import kill_holders, kill_naming

PREFIX = "powercut-explore-"
LOCK = "owner.lock"

# The lock descriptors of the work dirs this process owns, by dir.
_held: dict[Path, int] = {}
_held_lock = threading.Lock()


def claim(root: Path) -> None:
    """Mark `root` as the work dir of this process, until `release(root)` or its exit.

    A claimed dir removed without `release` has its lock closed at the next
    `claim` (the callers remove their dir when done and need not release).
    """
    root = Path(root)
    # Locked under a name of its own first, then renamed into place: a reaper in another
    # process that lists `root` between the lock file's creation and its flock would
    # otherwise take the lock of a live dir, and remove it.
    making = root / f".{LOCK}.{os.getpid()}.{threading.get_native_id()}"
    fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())  # for a human; liveness is the lock
        os.rename(making, root / LOCK)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(making)
        raise
    with _held_lock:
        for gone in [r for r in _held if r != root and not (r / LOCK).exists()]:
            os.close(_held.pop(gone))
        previous = _held.pop(root, None)
        _held[root] = fd
    if previous is not None:
        os.close(previous)


def release(root: Path) -> None:
    """Drop this process's claim on `root` (the dir may then be reaped)."""
    with _held_lock:
        fd = _held.pop(Path(root), None)
    if fd is not None:
        os.close(fd)


def claimed() -> set[Path]:
    """The work dirs this process holds."""
    with _held_lock:
        return set(_held)


def _take_if_dead(root: Path) -> int | None:
    """The lock of `root` if its owner is gone (the caller closes it), else None."""
    try:
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None  # no lock (not claimed yet) or not one we can take: not ours to judge
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        return None  # its owner holds it: alive, in whatever namespace


def reap(parent: Path) -> list[Path]:
    """Kill the orphaned checkers of dead explorations under `parent`, remove their dirs."""
    guard.reap(parent)  # ledgers of dead powercut runs here, whose guardians died too
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(PREFIX) and p.is_dir()]
    except OSError:
        return []
    removed = []
    for root in candidates:
        fd = _take_if_dead(root)
        if fd is None:
            continue
        try:
            # Holding the lock: another reaper cannot take it meanwhile.
            kill_naming(root)  # its checkers' programs, in their own sessions
            kill_holders(root)  # and whatever works in it (a kernel file system's users)
            unmount_under(root)  # crash images it mounted (kernel file-system traces)
            loop.detach_under(root)
            shutil.rmtree(root, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(root)
    return removed
