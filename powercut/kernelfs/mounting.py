"""Mounting a kernel file system from a loop device, with the kernel's own words on failure.

`mount(device, target, fstype, options)` always adds `nodev,nosuid,noexec`:
an image built from a trace is kernel input from whoever recorded it. A
mount that fails raises `MountFailed` carrying what the kernel logged about
that device while trying (read from /dev/kmsg: "EXT4-fs (loop3): VFS: Can't
find ext4 filesystem"), which is the signature of an unrecoverable crash
image. `unmount` takes a mount off, killing what still holds it (never an
ancestor of this process) and detaching it lazily as a last resort, so it
never fails to leave the mountpoint free.

mount(2) and umount2(2) go through ctypes, which releases the GIL (the
device's image may be served by this very process's FUSE file system).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from powercut.errors import MountError
from powercut.process import kill_holders

SAFE = ("nodev", "nosuid", "noexec")
MS_NODEV, MS_NOSUID, MS_NOEXEC, MS_RDONLY = 4, 2, 8, 1
MNT_DETACH = 2
_FLAGS = {"nodev": MS_NODEV, "nosuid": MS_NOSUID, "noexec": MS_NOEXEC, "ro": MS_RDONLY}
_UNMOUNT_TRIES = 5

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class MountFailed(MountError):
    """The kernel refused to mount an image: `kernel` holds what it logged about it."""

    def __init__(self, message: str, err: int, kernel: list[str]) -> None:
        super().__init__(message)
        self.errno = err
        self.kernel = kernel


class KernelLog:
    """The kernel's messages from now on that name one device (loopN), read from /dev/kmsg.

    Each reader of /dev/kmsg has its own position, so workers on other
    devices do not take each other's messages. Where /dev/kmsg cannot be
    read, `lines()` is empty and the errno alone is the evidence.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self._fd: int | None = None
        with contextlib.suppress(OSError):
            self._fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.lseek(self._fd, 0, os.SEEK_END)
        self._seen: list[str] = []

    def lines(self) -> list[str]:
        """Messages naming the device since this log was opened (kept across calls)."""
        while self._fd is not None:
            try:
                record = os.read(self._fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EPIPE:  # overwritten before we read it: go on
                    continue
                break
            if not record:
                break
            text = record.decode("utf-8", "replace").split(";", 1)[-1].split("\n", 1)[0]
            if _names(text, self.device):
                self._seen.append(text.strip())
        return list(self._seen)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _names(text: str, device: str) -> bool:
    # "(loop3)", "(device loop3)", "loop3:" - not loop30.
    for at in _find_all(text, device):
        after = text[at + len(device):at + len(device) + 1]
        if not after.isdigit():
            return True
    return False


def _find_all(text: str, needle: str) -> Iterator[int]:
    at = text.find(needle)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


def options_of(options: str) -> tuple[int, str]:
    """mount(2) flags and the data string for `options` plus the safe ones."""
    flags, data = 0, []
    for option in [*SAFE, *(o for o in options.split(",") if o)]:
        if option in _FLAGS:
            flags |= _FLAGS[option]
        elif option not in data:
            data.append(option)
    return flags, ",".join(data)


def mount(device: str, target: Path | str, fstype: str, options: str = "",
          log: KernelLog | None = None) -> None:
    """Mount `device` on `target` as `fstype` with `options` (and nodev,nosuid,noexec)."""
    flags, data = options_of(options)
    own = log is None
    log = log or KernelLog(os.path.basename(device))
    try:
        result = _libc.mount(os.fsencode(device), os.fsencode(os.fspath(target)),
                             fstype.encode(), flags, data.encode() or None)
        if result != 0:
            err = ctypes.get_errno()
            kernel = log.lines()
            said = f": {kernel[-1]}" if kernel else ""
            raise MountFailed(f"the kernel refused to mount {device} as {fstype} "
                              f"({os.strerror(err)}){said}", err, kernel)
    finally:
        if own:
            log.close()


def mount_points() -> list[str]:
    """Every mount point of this process's namespace, in /proc/self/mounts order."""
    with open("/proc/self/mounts", "rb") as f:
        return [os.fsdecode(_unescape(line.split()[1])) for line in f if len(line.split()) > 1]


def is_mounted(target: Path | str) -> bool:
    return os.path.realpath(target) in mount_points()


def unmount(target: Path | str) -> None:
    """Take the mount at `target` off; what holds it is killed first, and a mount that
    stays busy is detached lazily (it goes once its last user does)."""
    path = os.fsencode(os.fspath(target))
    for attempt in range(_UNMOUNT_TRIES):
        if _libc.umount2(path, 0) == 0:
            return
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return  # not mounted (any more)
        if err != errno.EBUSY:
            break
        kill_holders(target)
        time.sleep(0.02 * (attempt + 1))
    if _libc.umount2(path, MNT_DETACH) != 0 and is_mounted(target):
        err = ctypes.get_errno()
        raise MountError(f"cannot unmount {os.fsdecode(path)}: {os.strerror(err)}; "
                         f"remove it with: umount -l {os.fsdecode(path)}")


def unmount_under(directory: Path | str) -> list[str]:
    """Take off every mount at or under `directory`, deepest first; their paths."""
    root = os.path.realpath(directory)
    under = sorted({m for m in mount_points() if m == root or m.startswith(root + "/")},
                   key=lambda m: m.count("/"), reverse=True)
    for mnt in under:
        with contextlib.suppress(MountError):
            unmount(mnt)
    return under


def _unescape(raw: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i:i + 1] == b"\\" and raw[i + 1:i + 4].isdigit():
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)
