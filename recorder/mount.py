"""Mount lifecycle: put a recording file system on a mountpoint, and always take it off.

`mounted(fs, mountpoint)` checks the mountpoint (exists, is an empty
directory, is not a mount already, is not a stale mount left by a killed
recorder), mounts, serves requests with trio in a background thread, and in
`finally`, whatever happened (workload crash, Ctrl-C), stops the loop and
unmounts, falling back to a lazy `fusermount3 -u -z`. pyfuse3 is a
process-wide singleton, so one process holds at most one recorder mount.

This module must never leave a mount behind silently: if it cannot remove
one it raises `MountError` saying how to remove it by hand.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyfuse3
import trio

from powercut.errors import MountError

FSNAME = "powercut"
# How long the FUSE loop gets to wind down once asked to stop.
STOP_SECONDS = 10.0
_ONE_MOUNT = threading.Lock()
# The mount this process serves, while it does: (mountpoint, file system).
_SERVING: tuple[Path, pyfuse3.Operations] | None = None


_OCTAL = re.compile(rb"\\([0-7]{3})")


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/mounts: what is mounted, where, and its file-system type."""

    source: str
    target: str
    fstype: str


def _field(raw: bytes) -> str:
    # The kernel writes space, tab, newline and backslash as \ooo and every
    # other byte as it is: undo the escapes on bytes, then decode as the OS
    # does paths (a non-ASCII name must compare equal to the real path).
    return os.fsdecode(_OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), raw))


def mount_table(text: bytes | None = None) -> list[MountEntry]:
    """Every mount, in /proc/mounts order (later mounts on top); `text` for tests."""
    if text is None:
        with open("/proc/mounts", "rb") as f:
            text = f.read()
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 2:
            out.append(MountEntry(_field(fields[0]), _field(fields[1]), _field(fields[2])))
    return out


def fuse_mounts() -> list[tuple[str, str]]:
    """(source, mountpoint) of every FUSE mount."""
    return [(m.source, m.target) for m in mount_table() if m.fstype.startswith("fuse")]


def mount_at(path: Path | str) -> MountEntry | None:
    """The mount on top at `path` (not resolving symlinks), or None."""
    target = os.path.abspath(path)
    found = None
    for m in mount_table():
        if m.target == target:
            found = m
    return found


def is_mounted(path: Path | str) -> bool:
    real = os.path.realpath(path)
    return any(m.target == real for m in mount_table())


def stale_mounts() -> list[str]:
    """Recorder mounts whose server is gone (a recorder that was killed)."""
    stale = []
    for source, mnt in fuse_mounts():
        if source != FSNAME:
            continue
        try:
            os.stat(mnt)
        except OSError as e:
            if e.errno == errno.ENOTCONN:
                stale.append(mnt)
    return stale


def served_here(mountpoint: Path | str) -> pyfuse3.Operations | None:
    """The file system this process serves on `mountpoint`, if it serves one there now
    (or serves the image of the kernel file system mounted there, see `also_serving`)."""
    serving = _SERVING
    path = Path(os.path.abspath(mountpoint))
    if serving is None or (serving[0] != path and path not in _ALSO):
        return None
    return serving[1]


_ALSO: set[Path] = set()


@contextlib.contextmanager
def also_serving(path: Path) -> Iterator[None]:
    """Within the block, `served_here(path)` is this process's recording file system: a
    kernel file system mounted at `path` from an image on the recording mount."""
    path = Path(os.path.abspath(path))
    _ALSO.add(path)
    try:
        yield
    finally:
        _ALSO.discard(path)


def removal_hint(path: Path | str) -> str:
    return f"remove it with: fusermount3 -u -z {path}"


def check_mountpoint(path: Path) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MountError(f"mountpoint {path} does not exist") from None
    except OSError as e:
        if e.errno == errno.ENOTCONN:
            raise MountError(f"{path} is a stale FUSE mount left by a killed recorder; "
                             f"{removal_hint(path)}") from None
        raise MountError(f"mountpoint {path}: {e.strerror}") from None
    if not os.path.isdir(path):
        raise MountError(f"mountpoint {path} is not a directory")
    if is_mounted(path) or os.path.ismount(path) or st.st_dev != os.stat(Path(path).parent).st_dev:
        raise MountError(f"{path} is already a mount point; {removal_hint(path)}")
    if os.listdir(path):
        raise MountError(f"mountpoint {path} is not empty")


def lazy_unmount(path: Path | str) -> bool:
    """Detach a mount even if busy; True if it is gone afterwards."""
    subprocess.run(["fusermount3", "-u", "-z", str(path)], capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=30, check=False)
    return not is_mounted(path)


@dataclass
class _Loop:
    token: trio.lowlevel.TrioToken | None = None
    error: BaseException | None = None


def _serve(loop: _Loop, ready: threading.Event) -> None:
    async def main() -> None:
        loop.token = trio.lowlevel.current_trio_token()
        ready.set()
        # One worker task: handlers never await, so requests complete one at a
        # time in any case, and pyfuse3's default pool (a second task parked on
        # a trio lock) only adds a lock hand-off and a task switch per request.
        await pyfuse3.main(min_tasks=1, max_tasks=1)

    try:
        trio.run(main)
    except BaseException as e:  # reported by the mounting thread, never lost
        loop.error = e
    finally:
        ready.set()


def _stop(loop: _Loop, thread: threading.Thread) -> None:
    if loop.token is not None and thread.is_alive():
        with contextlib.suppress(trio.RunFinishedError, RuntimeError):
            trio.from_thread.run_sync(pyfuse3.terminate, trio_token=loop.token)
    thread.join(STOP_SECONDS)


@contextlib.contextmanager
def mounted(fs: pyfuse3.Operations, mountpoint: Path | str) -> Iterator[Path]:
    """Serve `fs` on `mountpoint` for the duration of the `with` block."""
    global _SERVING
    mnt = Path(os.path.abspath(mountpoint))
    if not _ONE_MOUNT.acquire(blocking=False):
        raise MountError("this process already serves a recorder mount (pyfuse3 allows one)")
    try:
        check_mountpoint(mnt)
        options = set(pyfuse3.default_options) | {f"fsname={FSNAME}", f"subtype={FSNAME}"}
        try:
            pyfuse3.init(fs, str(mnt), options)
        except RuntimeError as e:
            with contextlib.suppress(Exception):
                pyfuse3.close(unmount=False)
            raise MountError(f"cannot mount on {mnt}: {e} (is /dev/fuse usable?)") from None
        loop = _Loop()
        ready = threading.Event()
        thread = threading.Thread(target=_serve, args=(loop, ready), name="powercut-fuse",
                                  daemon=True)
        try:
            thread.start()
            ready.wait()
            if loop.error is not None:
                raise MountError(f"the FUSE loop failed to start: {loop.error!r}")
            _SERVING = (mnt, fs)
            yield mnt
        finally:
            _SERVING = None
            _stop(loop, thread)
            _unmount(mnt, stopped=not thread.is_alive())
        if loop.error is not None:
            raise MountError(f"the FUSE loop failed: {loop.error!r}")
    finally:
        _ONE_MOUNT.release()


def _unmount(mnt: Path, stopped: bool) -> None:
    if stopped:
        with contextlib.suppress(Exception):  # the lazy unmount below still runs
            pyfuse3.close(unmount=True)
    if is_mounted(mnt) and not lazy_unmount(mnt):
        raise MountError(f"could not unmount {mnt}; {removal_hint(mnt)}")
