"""File and directory I/O handlers of the recording file system: open, write, fsync, readdir.

Each handler only translates (see `fs` for the rules the trace keeps).
"""

from __future__ import annotations

import errno
import os
import stat

import pyfuse3

from powercut.recorder.fs_base import _STRIP_FLAGS, FSBase, Handle, _name, handler
from powercut.recorder.markers import CONTROL_INO, VIRTUAL_INODES
from powercut.recorder.syscalls import statvfs_data


class FileOps(FSBase):
    """Handlers that read and write files and list and sync directories."""


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
        path, orphan = self.table.trace_path(h.ino)
        self._fail("write", "write", h.pid, orphan, path=path, offset=off, data=bytes(buf))
        done = self._pwrite_all(h.fd, buf, off)
        self._record("write", h.pid, orphan, path=path, offset=off, data=bytes(buf[:done]))
        self.bytes_written += done
        return done

    @staticmethod
    def _pwrite_all(fd: int, buf: bytes, off: int) -> int:
        """Write `buf` at `off`; how many bytes reached the file.

        A pwrite may stop short (a disk filling up) and the next one fail:
        then the bytes written so far are on the backing file, so they are
        what is recorded, and the kernel gets the short count, which the
        program sees as a short write(2), as on a real disk. An error before
        any byte is written is the call's error, and nothing is recorded.
        """
        view = memoryview(buf)
        done = 0
        while done < len(buf):
            try:
                n = os.pwrite(fd, view[done:], off + done)
            except OSError:
                if done == 0:
                    raise
                break
            if n == 0:
                break  # no progress and no error: report what was written
            done += n
        return done

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
        path, orphan = self.table.trace_path(h.ino)
        self._fail("fdatasync" if datasync else "fsync", "fsync", h.pid, orphan, path=path,
                   datasync=bool(datasync))
        (os.fdatasync if datasync else os.fsync)(h.fd)
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
        try:
            path = self.table.path(ino)  # "" for the root: a trace names it so for fsyncdir
        except KeyError:
            return  # removed while open: as on disk, syncing it succeeds and keeps nothing
        self._fail("fsyncdir", "fsyncdir", pid, False, path=path, datasync=bool(datasync))
        fd = os.open(self._real(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            (os.fdatasync if datasync else os.fsync)(fd)
        finally:
            os.close(fd)
        self._record("fsyncdir", pid, path=path, datasync=bool(datasync))

    @handler
    def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        return statvfs_data(os.statvfs(self.backing))
