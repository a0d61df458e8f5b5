"""Small system-call helpers the FUSE layer needs and Python's `os` lacks.

`renameat2` (for RENAME_NOREPLACE / RENAME_EXCHANGE) goes through ctypes;
`entry_attributes` turns a backing `stat` into what the kernel is told.
Nothing here records anything or knows about traces.
"""

from __future__ import annotations

import ctypes
import errno
import os

import pyfuse3

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
# How long the kernel may cache names and attributes. Every change goes
# through this file system, so the kernel's caches stay right; a short time
# keeps a reader outside the mount (a test peeking at the backing dir) honest.
CACHE_SECONDS = 1.0

_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)


def renameat2(src: str, dst: str, flags: int) -> None:
    """rename(2) with Linux flags; raises OSError like `os.rename`."""
    if flags == 0:
        os.rename(src, dst)
        return
    if _renameat2 is None:
        raise OSError(errno.EINVAL, "renameat2 is not available in this C library")
    rc = _renameat2(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst),
                    ctypes.c_uint(flags))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), src)


def entry_attributes(st: os.stat_result, ino: int) -> pyfuse3.EntryAttributes:
    attrs = pyfuse3.EntryAttributes()
    attrs.st_ino = ino
    attrs.generation = 0
    attrs.entry_timeout = CACHE_SECONDS
    attrs.attr_timeout = CACHE_SECONDS
    attrs.st_mode = st.st_mode
    attrs.st_nlink = st.st_nlink
    attrs.st_uid = st.st_uid
    attrs.st_gid = st.st_gid
    attrs.st_rdev = st.st_rdev
    attrs.st_size = st.st_size
    attrs.st_blksize = st.st_blksize
    attrs.st_blocks = st.st_blocks
    attrs.st_atime_ns = st.st_atime_ns
    attrs.st_mtime_ns = st.st_mtime_ns
    attrs.st_ctime_ns = st.st_ctime_ns
    return attrs


def statvfs_data(st: os.statvfs_result) -> pyfuse3.StatvfsData:
    data = pyfuse3.StatvfsData()
    for name in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                 "f_files", "f_ffree", "f_favail", "f_namemax"):
        setattr(data, name, getattr(st, name))
    return data
