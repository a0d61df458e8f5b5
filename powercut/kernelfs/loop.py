"""Loop devices: an image file as a block device, attached and always detached.

`attached(image)` binds a free loop device to an open image with
LOOP_CONFIGURE and the autoclear flag: once the last opener (our
descriptor, then the mount) lets go, the kernel detaches the device by
itself, so a process that dies cannot leave one bound behind while nothing
uses it. The context manager still detaches explicitly on leaving.

I/O is buffered (never LO_FLAGS_DIRECT_IO): the recorder must see the
kernel file system's writes through the image's own file, and a flush of
the device becomes an fsync of that file.

Every blocking call goes through ctypes, which releases the GIL: when the
image lives on powercut's own FUSE mount, the FUSE handlers of this same
process must keep running while the kernel reads the image. This module
must never detach a device it did not attach.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from powercut.errors import MountError

LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LOOP_CLR_FD = 0x4C01
LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4
_ATTEMPTS = 20  # free devices raced for by other workers or programs


class _LoopInfo64(ctypes.Structure):
    _fields_ = [("lo_device", ctypes.c_uint64), ("lo_inode", ctypes.c_uint64),
                ("lo_rdevice", ctypes.c_uint64), ("lo_offset", ctypes.c_uint64),
                ("lo_sizelimit", ctypes.c_uint64), ("lo_number", ctypes.c_uint32),
                ("lo_encrypt_type", ctypes.c_uint32), ("lo_encrypt_key_size", ctypes.c_uint32),
                ("lo_flags", ctypes.c_uint32), ("lo_file_name", ctypes.c_char * 64),
                ("lo_crypt_name", ctypes.c_char * 64), ("lo_encrypt_key", ctypes.c_char * 32),
                ("lo_init", ctypes.c_uint64 * 2)]


class _LoopConfig(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_uint32), ("block_size", ctypes.c_uint32),
                ("info", _LoopInfo64), ("reserved", ctypes.c_uint64 * 8)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc.ioctl.restype = ctypes.c_int


def _ioctl(fd: int, request: int, arg: ctypes.c_void_p | int | None) -> int:
    result = _libc.ioctl(fd, request, arg)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


@dataclass(frozen=True)
class LoopDevice:
    """A bound loop device: its path (/dev/loopN), its name (loopN) and its image."""

    path: str
    image: str

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def available() -> str | None:
    """Why loop devices cannot be used here, or None when they can."""
    if not os.path.exists("/dev/loop-control"):
        return "/dev/loop-control is missing (no loop device support in this kernel)"
    if os.geteuid() != 0:
        return "attaching loop devices needs root"
    return None


def attach(image: Path | str, *, read_only: bool = False) -> tuple[LoopDevice, int]:
    """Bind a free loop device to `image`; returns it and an open descriptor of it (close
    the descriptor once the device is mounted: autoclear then ties it to the mount)."""
    problem = available()
    if problem is not None:
        raise MountError(f"cannot attach {image}: {problem}")
    image = os.fspath(image)
    flags = os.O_RDONLY if read_only else os.O_RDWR
    backing = os.open(image, flags | os.O_CLOEXEC)
    try:
        control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            for _ in range(_ATTEMPTS):
                number = _ioctl(control, LOOP_CTL_GET_FREE, None)
                path = f"/dev/loop{number}"
                try:
                    fd = os.open(path, flags | os.O_CLOEXEC)
                except FileNotFoundError:
                    time.sleep(0.01)  # udev has not made the node yet
                    continue
                config = _LoopConfig()
                config.fd = backing
                config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (
                    LO_FLAGS_READ_ONLY if read_only else 0)
                config.info.lo_file_name = os.fsencode(image)[-63:]
                try:
                    _ioctl(fd, LOOP_CONFIGURE, ctypes.addressof(config))
                except OSError as e:
                    os.close(fd)
                    if e.errno == errno.EBUSY:
                        continue  # another worker bound it first
                    raise MountError(f"cannot attach {image} to {path}: {e.strerror}") from None
                return LoopDevice(path, image), fd
        finally:
            os.close(control)
    finally:
        os.close(backing)
    raise MountError(f"cannot attach {image}: no free loop device after {_ATTEMPTS} tries")


def detach(device: LoopDevice, fd: int | None = None) -> None:
    """Unbind `device` (ours) and close `fd`; a device already gone is fine."""
    try:
        if fd is None:
            fd = os.open(device.path, os.O_RDONLY | os.O_CLOEXEC)
        with contextlib.suppress(OSError):  # ENXIO: already unbound (autoclear)
            _ioctl(fd, LOOP_CLR_FD, 0)
    except OSError:
        pass
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def backing_file(name: str) -> str | None:
    """The image file bound to loop device `name` (loopN), or None when it is free."""
    try:
        with open(f"/sys/block/{name}/loop/backing_file") as f:
            return f.read().rstrip("\n")
    except OSError:
        return None


def bound() -> dict[str, str]:
    """Every bound loop device by name, with its image file (as the kernel names it)."""
    out = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/sys/block"):
            if name.startswith("loop"):
                found = backing_file(name)
                if found is not None:
                    out[name] = found
    return out


def detach_under(directory: Path | str) -> list[str]:
    """Unbind every loop device whose image lies under `directory`; their names."""
    root = os.path.abspath(directory)
    gone = []
    for name, image in bound().items():
        # The kernel appends " (deleted)" to a backing file that was unlinked.
        path = image.removesuffix(" (deleted)")
        if path == root or path.startswith(root + "/"):
            detach(LoopDevice(f"/dev/{name}", path))
            gone.append(name)
    return gone


@contextlib.contextmanager
def attached(image: Path | str, *, read_only: bool = False) -> Iterator[LoopDevice]:
    """A loop device bound to `image` for the block, detached on leaving."""
    device, fd = attach(image, read_only=read_only)
    try:
        yield device
    finally:
        detach(device, fd)
