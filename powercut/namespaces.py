"""Linux namespaces for one thread: a network of its own, a mount table of its own.

Network and mount namespaces belong to a task, and in Linux a thread is a
task: a thread that unshares one moves alone, and every program it starts
afterwards (fork copies the calling thread's namespaces) and every socket it
opens lives there too, while the other threads of powercut stay where they
were. So a worker thread can give each check a loopback of its own (programs
whose ports are fixed in their data, such as a cluster's peer ports, then
never collide) or keep a scratch file system mounted where no other process
sees it and the kernel unmounts it when the thread, or the process, dies,
even by SIGKILL.

Both need CAP_SYS_ADMIN (root); without it the callers fall back to what
they did before and say so. Python 3.11 has no `os.unshare`/`os.setns`, so
this module calls libc; it must never change the namespaces of a thread
other than the calling one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Iterator

from powercut.errors import PowercutError

CLONE_FS = 0x00000200
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1

_libc = ctypes.CDLL(None, use_errno=True)
_own_network = threading.local()


class NamespaceError(PowercutError):
    """The kernel refused a namespace (no CAP_SYS_ADMIN, a container without them)."""


def _call(what: str, result: int) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise NamespaceError(f"{what}: {os.strerror(code)}") if code in (
            errno.EPERM, errno.EACCES, errno.EINVAL, errno.ENOSYS) else OSError(code, what)


def _setns(fd: int, kind: int, what: str) -> None:
    _call(what, _libc.setns(fd, kind))


def _loopback_up() -> None:
    """Bring `lo` up in the calling thread's network namespace (a new one has it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | _IFF_UP, b""))


@contextlib.contextmanager
def own_network() -> Iterator[None]:
    """Within the block, the calling thread (and what it starts) has a network of its own:
    a fresh namespace whose only interface is its loopback, up. The namespace goes when the
    block's programs are gone. Raises `NamespaceError` where namespaces are refused."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _call("unshare(CLONE_NEWNET)", _libc.unshare(CLONE_NEWNET))
        try:
            _loopback_up()
            _own_network.depth = getattr(_own_network, "depth", 0) + 1
            try:
                yield
            finally:
                _own_network.depth -= 1
        finally:
            _setns(home, CLONE_NEWNET, "setns back to the thread's network")
    finally:
        os.close(home)


def in_own_network() -> bool:
    """Whether the calling thread is inside `own_network()` now."""
    return getattr(_own_network, "depth", 0) > 0


_support: dict[str, str | None] = {}
_support_lock = threading.Lock()


def refused(kind: str) -> str | None:
    """Why the kernel refuses the namespace `kind` ("net", "mnt") here, or None when it gives
    it (tried once per process, in a thread of its own that then ends)."""
    with _support_lock:
        if kind not in _support:
            _support[kind] = _probe(kind)
        return _support[kind]


def _probe(kind: str) -> str | None:
    found: list[str | None] = []

    def attempt() -> None:
        try:
            if kind == "net":
                with own_network():
                    pass
            else:
                private_mounts()
            found.append(None)
        except (NamespaceError, OSError) as e:
            found.append(str(e))

    probe = threading.Thread(target=attempt, name="powercut-namespace-probe")
    probe.start()
    probe.join()
    return found[0] if found else "the probe thread died"


def private_mounts() -> int:
    """Move the calling thread into a mount namespace of its own whose mounts propagate
    nowhere; returns a descriptor of it (the caller closes it). The thread stays there
    (see `leave_mounts`); mounts made there vanish with the namespace."""
    _call("unshare(CLONE_NEWNS)", _libc.unshare(CLONE_NEWNS))
    _call("make / private", _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None))
    return os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)


def host_mounts() -> int:
    """A descriptor of the mount namespace of the process's first thread (the caller closes
    it): where a thread returns with `leave_mounts`."""
    return os.open(f"/proc/{os.getpid()}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)


def leave_mounts(home: int) -> None:
    """Move the calling thread (which called `private_mounts`) back to the namespace `home`."""
    _setns(home, CLONE_NEWNS, "setns back to the host's mounts")


def unmount_in(namespace: int, path: str) -> None:
    """Unmount `path` in the mount namespace `namespace` from any thread: a helper thread
    joins it (after unsharing its file-system attributes, as setns requires) and ends."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            _call("unshare(CLONE_FS)", _libc.unshare(CLONE_FS))
            _setns(namespace, CLONE_NEWNS, "setns into the volume's mounts")
            unmount(path)
        except BaseException as e:  # handed to the caller's thread
            failed.append(e)

    helper = threading.Thread(target=run, name="powercut-unmount")
    helper.start()
    helper.join()
    if failed:
        raise failed[0]


def unmount(path: str) -> None:
    """Unmount `path` in the calling thread's mount namespace (detached if busy)."""
    target = os.fsencode(path)
    if _libc.umount2(target, 0) != 0:
        code = ctypes.get_errno()
        if code == errno.EINVAL:  # not mounted (any more)
            return
        if code != errno.EBUSY:
            raise OSError(code, f"umount {path}")
        _call(f"umount -l {path}", _libc.umount2(target, MNT_DETACH))
