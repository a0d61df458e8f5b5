"""The recording FUSE file system: a passthrough that writes each change to a trace.

Each handler only translates: a kernel request becomes a call on the backing
directory (the real files), an update of the `InodeTable`, and, when the call
succeeded and changed something, one trace record. Rules that keep the trace
true to what the program did:

- Handler bodies are plain functions with no `await`, so each runs to the
  end before trio starts another: the trace order is the completion order.
- `enable_writeback_cache` stays off: the kernel then hands over each write
  as the program made it (split at the kernel's maximum request size, never
  merged or reordered).
- One backing descriptor per open handle, opened with that open's flags, so
  an O_APPEND handle appends while another handle on the file does not. For
  O_APPEND writes the recorded offset is the real one: the file size just
  before the write, not the kernel's guess.
- `pid` is the request's pid (the kernel reports the calling thread's id).
  write, fsync, flush and fsyncdir carry no request context in pyfuse3, so
  they are recorded with the pid that opened the handle.
- Operations on an open file that has lost its last name (unlinked, or
  renamed over) are recorded under the path it had then, with
  `"orphan": true`; the replayer applies nothing visible for them.
- fallocate: pyfuse3 has no handler for it, so the kernel answers
  EOPNOTSUPP and etcd falls back to ftruncate (recorded as `truncate`);
  glibc's posix_fallocate falls back to writing a byte per block.
- O_SYNC / O_DSYNC: the kernel itself sends an fsync (datasync for
  O_DSYNC) after each such write, so the trace shows the barrier.
- Extended attributes are refused (ENOSYS, which the kernel turns into
  EOPNOTSUPP for good): the trace format cannot carry them.
- `fsyncdir` of the mount root is not recorded: a trace path cannot name it.
- `.powercut/` in the mount root is virtual (`markers.ControlFiles`): lines
  written to `.powercut/marker` become `marker` ops; it never reaches the
  backing directory, and names cannot be made in or over it.

A handler must never print, log to a pipe, or block on anything but the
backing file system, and never lets an exception other than `FUSEError`
reach pyfuse3: an unexpected one becomes EIO and is kept in `errors`.
"""

from __future__ import annotations

import errno
import functools
import itertools
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pyfuse3

from powercut.recorder.inodes import ROOT_INODE, InodeTable
from powercut.recorder.markers import CONTROL_INO, VIRTUAL_INODES, ControlFiles
from powercut.recorder.syscalls import entry_attributes, renameat2, statvfs_data
from powercut.trace import TraceWriter

# Flags the backing open must not see: the kernel already created the file,
# and O_DIRECT would make Python's unaligned buffers fail with EINVAL.
_STRIP_FLAGS = os.O_CREAT | os.O_EXCL | os.O_NOCTTY | getattr(os, "O_DIRECT", 0)
_RENAME_FLAGS = {0: 0, pyfuse3.RENAME_NOREPLACE: "noreplace", pyfuse3.RENAME_EXCHANGE: "exchange"}
MAX_ERRORS_KEPT = 20

F = TypeVar("F", bound=Callable[..., Any])


def handler(fn: F) -> F:
    """Make a plain method a pyfuse3 handler that only ever raises FUSEError."""

    @functools.wraps(fn)
    async def wrapper(self: RecorderFS, *args: Any) -> Any:
        try:
            return fn(self, *args)
        except pyfuse3.FUSEError:
            raise
        except OSError as e:
            raise pyfuse3.FUSEError(e.errno or errno.EIO) from None
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT) from None
        except UnicodeDecodeError:
            raise pyfuse3.FUSEError(errno.EINVAL) from None
        except Exception as e:  # a bug here must not take the mount down
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(f"{fn.__name__}: {type(e).__name__}: {e}")
            raise pyfuse3.FUSEError(errno.EIO) from None

    return wrapper  # type: ignore[return-value]


@dataclass(slots=True)
class Handle:
    """One open of a file: its own backing descriptor and flags."""

    fd: int
    ino: int
    flags: int
    pid: int

    @property
    def append(self) -> bool:
        return bool(self.flags & os.O_APPEND)


def _name(raw: bytes) -> str:
    # Trace paths are UTF-8 text; a name that is not cannot be recorded.
    name = raw.decode("utf-8")
    if "/" in name or name in ("", ".", ".."):
        raise pyfuse3.FUSEError(errno.EINVAL)
    return name


class RecorderFS(pyfuse3.Operations):
    """Passthrough over `backing` that appends every successful change to `writer`."""

    enable_writeback_cache = False  # never: the kernel would merge and reorder writes
    supports_dot_lookup = True

    def __init__(self, backing: os.PathLike[str] | str, writer: TraceWriter) -> None:
        super().__init__()
        self.backing = os.path.abspath(backing)
        self.writer = writer
        self.table = InodeTable(os.lstat(self.backing).st_ino)
        self.handles: dict[int, Handle] = {}
        self.dir_handles: dict[int, tuple[int, int]] = {}  # fh -> (inode, opener pid)
        self._fh = itertools.count(1)
        self.bytes_written = 0
        self.errors: list[str] = []
        self.trace_failure: str | None = None
        self.control = ControlFiles()
        # First path components that name a cluster member: ops under them get `member`.
        self.members: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ helpers

    def _real(self, rel: str) -> str:
        return os.path.join(self.backing, rel) if rel else self.backing

    def _real_ino(self, ino: int) -> str:
        return self._real(self.table.path(ino))

    def _record(self, op: str, pid: int, orphan: bool = False, **fields: Any) -> None:
        if orphan:
            fields["orphan"] = True
        if self.members:
            first = str(fields.get("path") or fields.get("src") or "").split("/", 1)[0]
            if first in self.members:
                fields["member"] = first
        try:
            self.writer.append(op, pid, **fields)
        except Exception as e:
            # The change is made but not recorded: fail the call so the
            # workload notices, and make the recorder report it.
            self.trace_failure = self.trace_failure or f"{type(e).__name__}: {e}"
            raise pyfuse3.FUSEError(errno.EIO) from None

    def _markers(self, pid_and_markers: tuple[int, list[dict[str, Any]]]) -> None:
        pid, markers = pid_and_markers
        for fields in markers:
            self._record("marker", pid, **fields)

    def _refuse_control(self, parent: int, raw: bytes) -> None:
        # Nothing may be made in, over or out of the virtual control directory.
        if ControlFiles.is_control(parent, raw):
            raise pyfuse3.FUSEError(errno.EPERM)

    def _entry(self, parent: int, name: str) -> pyfuse3.EntryAttributes:
        st = os.lstat(self._real(self.table.child_path(parent, name)))
        node = self.table.remember(parent, name, st.st_ino, stat.S_ISDIR(st.st_mode))
        return entry_attributes(st, node.ino)

    def _stat_ino(self, ino: int) -> os.stat_result:
        node = self.table.node(ino)
        if node.links or ino == ROOT_INODE:
            return os.lstat(self._real_ino(ino))
        for fh in node.handles:  # unlinked but open: only a descriptor reaches it
            return os.fstat(self.handles[fh].fd)
        raise pyfuse3.FUSEError(errno.ENOENT)

    # ------------------------------------------------------------------ names

    @handler
    def lookup(self, parent: int, raw: bytes, ctx: pyfuse3.RequestContext
               ) -> pyfuse3.EntryAttributes:
        if parent == CONTROL_INO and raw == b"..":
            parent, raw = ROOT_INODE, b"."
        if ControlFiles.is_control(parent, raw):
            return self.control.lookup(parent, raw)
        if raw in (b".", b".."):
            ino = parent
            if raw == b".." and parent != ROOT_INODE:
                ino = next(iter(self.table.node(parent).links))[0]
            attrs = entry_attributes(self._stat_ino(ino), ino)
            self.table.node(ino).lookups += 1
            return attrs
        return self._entry(parent, _name(raw))

    @handler
    def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        for ino, count in inode_list:
            self.table.forget(ino, count)

    @handler
    def getattr(self, ino: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if ino in VIRTUAL_INODES:
            return self.control.getattr(ino)
        return entry_attributes(self._stat_ino(ino), ino)

    @handler
    def setattr(self, ino: int, attr: pyfuse3.EntryAttributes, fields: pyfuse3.SetattrFields,
                fh: int | None, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        if ino in VIRTUAL_INODES:  # `> .powercut/marker` truncates: nothing to do
            return self.control.getattr(ino)
        handle = self.handles.get(fh) if fh is not None else None
        path, orphan = self.table.trace_path(ino)
        target: int | str = handle.fd if handle is not None else self._real_ino(ino)
        if fields.update_size:
            os.truncate(target, attr.st_size)
            self._record("truncate", ctx.pid, orphan, path=path, size=attr.st_size)
        if fields.update_mode:
            os.chmod(target, stat.S_IMODE(attr.st_mode))
            self._record("chmod", ctx.pid, orphan, path=path, mode=stat.S_IMODE(attr.st_mode))
        if fields.update_uid or fields.update_gid:
            uid = attr.st_uid if fields.update_uid else -1
            gid = attr.st_gid if fields.update_gid else -1
            if isinstance(target, int):
                os.fchown(target, uid, gid)
            else:
                os.chown(target, uid, gid, follow_symlinks=False)
        if fields.update_atime or fields.update_mtime:
            st = self._stat_ino(ino)
            times = (attr.st_atime_ns if fields.update_atime else st.st_atime_ns,
                     attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns)
            if isinstance(target, int):
                os.utime(target, ns=times)
            else:
                os.utime(target, ns=times, follow_symlinks=False)
        return entry_attributes(self._stat_ino(ino), ino)

    @handler
    def readlink(self, ino: int, ctx: pyfuse3.RequestContext) -> bytes:
        return os.fsencode(os.readlink(self._real_ino(ino)))

    @handler
    def mknod(self, parent: int, raw: bytes, mode: int, rdev: int,
              ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        self._refuse_control(parent, raw)
        if not stat.S_ISREG(mode):
            raise pyfuse3.FUSEError(errno.EPERM)  # a trace can hold only files, dirs, symlinks
        name = _name(raw)
        path = self.table.child_path(parent, name)
        os.mknod(self._real(path), stat.S_IFREG | stat.S_IMODE(mode))
        os.chmod(self._real(path), stat.S_IMODE(mode))  # undo our own umask
        self._record("create", ctx.pid, path=path, mode=stat.S_IMODE(mode))
        return self._entry(parent, name)

    @handler
    def mkdir(self, parent: int, raw: bytes, mode: int, ctx: pyfuse3.RequestContext
              ) -> pyfuse3.EntryAttributes:
        self._refuse_control(parent, raw)
        name = _name(raw)
        path = self.table.child_path(parent, name)
        os.mkdir(self._real(path), stat.S_IMODE(mode))
        os.chmod(self._real(path), stat.S_IMODE(mode))
        self._record("mkdir", ctx.pid, path=path, mode=stat.S_IMODE(mode))
        return self._entry(parent, name)

    @handler
    def unlink(self, parent: int, raw: bytes, ctx: pyfuse3.RequestContext) -> None:
        self._refuse_control(parent, raw)
        name = _name(raw)
        path = self.table.child_path(parent, name)
        os.unlink(self._real(path))
        self._record("unlink", ctx.pid, path=path)
        self.table.unlink(parent, name)

    @handler
    def rmdir(self, parent: int, raw: bytes, ctx: pyfuse3.RequestContext) -> None:
        self._refuse_control(parent, raw)
        name = _name(raw)
        path = self.table.child_path(parent, name)
        os.rmdir(self._real(path))
        self._record("rmdir", ctx.pid, path=path)
        self.table.unlink(parent, name)

    @handler
    def symlink(self, parent: int, raw: bytes, target: bytes, ctx: pyfuse3.RequestContext
                ) -> pyfuse3.EntryAttributes:
        self._refuse_control(parent, raw)
        name = _name(raw)
        path = self.table.child_path(parent, name)
        text = target.decode("utf-8")
        os.symlink(text, self._real(path))
        self._record("symlink", ctx.pid, path=path, target=text)
        return self._entry(parent, name)

    @handler
    def rename(self, parent_old: int, raw_old: bytes, parent_new: int, raw_new: bytes,
               flags: int, ctx: pyfuse3.RequestContext) -> None:
        self._refuse_control(parent_old, raw_old)
        self._refuse_control(parent_new, raw_new)
        if flags not in _RENAME_FLAGS:
            raise pyfuse3.FUSEError(errno.EINVAL)
        name_old, name_new = _name(raw_old), _name(raw_new)
        src = self.table.child_path(parent_old, name_old)
        dst = self.table.child_path(parent_new, name_new)
        renameat2(self._real(src), self._real(dst), flags)
        self._record("rename", ctx.pid, src=src, dst=dst, flags=_RENAME_FLAGS[flags])
        self.table.rename(parent_old, name_old, parent_new, name_new,
                          exchange=flags == pyfuse3.RENAME_EXCHANGE)

    @handler
    def link(self, ino: int, new_parent: int, raw: bytes, ctx: pyfuse3.RequestContext
             ) -> pyfuse3.EntryAttributes:
        self._refuse_control(new_parent, raw)
        name = _name(raw)
        src = self.table.path(ino)
        dst = self.table.child_path(new_parent, name)
        os.link(self._real(src), self._real(dst), follow_symlinks=False)
        self._record("link", ctx.pid, src=src, dst=dst)
        return self._entry(new_parent, name)

    # ------------------------------------------------------------------ files

    def _open_handle(self, ino: int, fd: int, flags: int, pid: int) -> int:
        fh = next(self._fh)
        self.handles[fh] = Handle(fd, ino, flags, pid)
        self.table.opened(ino, fh)
        return fh

    @handler
    def open(self, ino: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        if ino in VIRTUAL_INODES:
            fh = next(self._fh)
            self.control.opened(fh, ino, ctx.pid)
            return pyfuse3.FileInfo(fh=fh, direct_io=True)
        node = self.table.node(ino)
        if node.links:
            real = self._real_ino(ino)
        elif node.handles:  # reopened through /proc/PID/fd after its unlink
            real = f"/proc/self/fd/{self.handles[next(iter(node.handles))].fd}"
        else:
            raise pyfuse3.FUSEError(errno.ENOENT)
        size_before = os.stat(real).st_size if flags & os.O_TRUNC else 0
        fd = os.open(real, flags & ~_STRIP_FLAGS)
        try:
            if size_before and os.fstat(fd).st_size == 0:
                path, orphan = self.table.trace_path(ino)
                self._record("truncate", ctx.pid, orphan, path=path, size=0)
        except BaseException:
            os.close(fd)
            raise
        return pyfuse3.FileInfo(fh=self._open_handle(ino, fd, flags, ctx.pid))

    @handler
    def create(self, parent: int, raw: bytes, mode: int, flags: int,
               ctx: pyfuse3.RequestContext) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        self._refuse_control(parent, raw)
        name = _name(raw)
        path = self.table.child_path(parent, name)
        perm = stat.S_IMODE(mode)
        fd = os.open(self._real(path), (flags & ~_STRIP_FLAGS) | os.O_CREAT | os.O_EXCL, perm)
        try:
            os.fchmod(fd, perm)  # our own umask must not change what the program asked
            self._record("create", ctx.pid, path=path, mode=perm)
            attrs = self._entry(parent, name)
        except BaseException:
            os.close(fd)
            raise
        return pyfuse3.FileInfo(fh=self._open_handle(attrs.st_ino, fd, flags, ctx.pid)), attrs

    @handler
    def read(self, fh: int, off: int, size: int) -> bytes:
        if fh in self.control.open:
            return b""
        return os.pread(self.handles[fh].fd, size, off)

    @handler
    def write(self, fh: int, off: int, buf: bytes) -> int:
        if fh in self.control.open:
            self._markers(self.control.write(fh, buf))
            return len(buf)
        h = self.handles[fh]
        if h.append:
            off = os.fstat(h.fd).st_size  # where O_APPEND really puts it
        view = memoryview(buf)
        done = 0
        while done < len(buf):
            done += os.pwrite(h.fd, view[done:], off + done)
        path, orphan = self.table.trace_path(h.ino)
        self._record("write", h.pid, orphan, path=path, offset=off, data=bytes(buf))
        self.bytes_written += len(buf)
        return len(buf)

    @handler
    def flush(self, fh: int) -> None:
        if fh in self.control.open:
            self._markers(self.control.flush(fh))
        return None  # close(2) changes nothing on disk; release closes our descriptor

    @handler
    def release(self, fh: int) -> None:
        if fh in self.control.open:
            self._markers(self.control.release(fh))
            return
        h = self.handles.pop(fh)
        os.close(h.fd)
        self.table.released(h.ino, fh)

    @handler
    def fsync(self, fh: int, datasync: bool) -> None:
        if fh in self.control.open:
            self._markers(self.control.flush(fh))
            return
        h = self.handles[fh]
        (os.fdatasync if datasync else os.fsync)(h.fd)
        path, orphan = self.table.trace_path(h.ino)
        self._record("fsync", h.pid, orphan, path=path, datasync=bool(datasync))

    # ------------------------------------------------------------------ directories

    @handler
    def opendir(self, ino: int, ctx: pyfuse3.RequestContext) -> int:
        if ino != CONTROL_INO:
            self.table.node(ino)
        fh = next(self._fh)
        self.dir_handles[fh] = (ino, ctx.pid)
        return fh

    @handler
    def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        if self.dir_handles[fh][0] == CONTROL_INO:
            self.control.readdir(start_id, token)
            return
        ino, _ = self.dir_handles[fh]
        names = sorted(os.listdir(self._real_ino(ino)))
        for index in range(start_id, len(names)):
            name = names[index]
            try:
                name.encode("utf-8")
                attrs = self._entry(ino, name)
            except (OSError, UnicodeError, pyfuse3.FUSEError):
                continue  # vanished meanwhile, or a name a trace cannot hold
            if not pyfuse3.readdir_reply(token, os.fsencode(name), attrs, index + 1):
                self.table.forget(attrs.st_ino, 1)  # the kernel did not take this entry
                return

    @handler
    def releasedir(self, fh: int) -> None:
        self.dir_handles.pop(fh, None)

    @handler
    def fsyncdir(self, fh: int, datasync: bool) -> None:
        if self.dir_handles[fh][0] == CONTROL_INO:
            return
        ino, pid = self.dir_handles[fh]
        fd = os.open(self._real_ino(ino), os.O_RDONLY | os.O_DIRECTORY)
        try:
            (os.fdatasync if datasync else os.fsync)(fd)
        finally:
            os.close(fd)
        if ino != ROOT_INODE:
            self._record("fsyncdir", pid, path=self.table.path(ino))

    @handler
    def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        return statvfs_data(os.statvfs(self.backing))
