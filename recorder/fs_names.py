"""Namespace handlers of the recording file system: lookup, attributes, create, remove, rename.

Each handler only translates: the request becomes a call on the backing
directory, an update of the inode table and, when it changed something,
one trace record (see `fs` for the rules the trace keeps).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

import pyfuse3

from powercut.recorder.fs_base import _RENAME_FLAGS, FSBase, _name, handler
from powercut.recorder.inodes import ROOT_INODE
from powercut.recorder.markers import CONTROL_INO, VIRTUAL_INODES, ControlFiles
from powercut.recorder.syscalls import entry_attributes, renameat2


class NameOps(FSBase):
    """Handlers that act on names and attributes."""


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
