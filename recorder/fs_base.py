"""What every handler of the recording file system shares: its state, helpers and error rule.

`handler` turns a plain method into a pyfuse3 handler that only ever raises
`FUSEError`; `FSBase` holds the backing directory, the inode table, the
open handles and the trace writer, and records one operation
(`_record`). The handlers themselves are in `fs_names` (namespace) and
`fs_files` (file and directory I/O); `fs.RecorderFS` puts them together.
"""

from __future__ import annotations

import errno
import functools
import itertools
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyfuse3

from powercut.faultplan import FaultPlan
from powercut.recorder.inodes import ROOT_INODE, InodeTable
from powercut.recorder.markers import ControlFiles, markers_in
from powercut.recorder.syscalls import entry_attributes
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
    async def wrapper(self: FSBase, *args: Any) -> Any:
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


class FSBase(pyfuse3.Operations):
    """The recorder's state and the helpers every handler shares (no handler here)."""

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
        # Held while a record is appended: handlers run on the FUSE thread, markers
        # reported from the recorder's own process (`report_markers`) on another.
        self._trace_lock = threading.Lock()
        self.control = ControlFiles()
        self.faults = FaultPlan()  # the call `record --fail` fails, if any

    # ------------------------------------------------------------------ helpers

    def _real(self, rel: str) -> str:
        return os.path.join(self.backing, rel) if rel else self.backing

    def _real_ino(self, ino: int) -> str:
        return self._real(self.table.path(ino))

    def _record(self, op: str, pid: int, orphan: bool = False, **fields: Any) -> int:
        if orphan:
            fields["orphan"] = True
        try:
            with self._trace_lock:
                return self.writer.append(op, pid, **fields)
        except Exception as e:
            # The change is made but not recorded: fail the call so the
            # workload notices, and make the recorder report it.
            self.trace_failure = self.trace_failure or f"{type(e).__name__}: {e}"
            raise pyfuse3.FUSEError(errno.EIO) from None

    def _fail(self, call: str, op: str, pid: int, orphan: bool, **fields: Any) -> None:
        """Fail this call if the fault plan says so: record it with its errno, raise it.

        Asked before the call reaches the backing file, so a failed call changes
        nothing there (a failed sync syncs nothing; the backing file keeps the
        program's bytes, as the page cache of ext4 or XFS keeps them).
        """
        path = str(fields.get("path", ""))
        failed = self.faults.consult(call, path)
        if failed is None:
            return
        self.faults.failed(self._record(op, pid, orphan, errno=failed, **fields))
        raise pyfuse3.FUSEError(failed)

    def _markers(self, pid_and_markers: tuple[int, list[dict[str, Any]]]) -> None:
        pid, markers = pid_and_markers
        for fields in markers:
            self._record("marker", pid, **fields)

    def report_markers(self, data: bytes) -> None:
        """Record the markers in `data` (lines, as written to `.powercut/marker`) now.

        For a workload running in this process: the same ops as through the
        control file, in the same order against file operations (each is
        recorded when this returns), without a FUSE round trip each. Raises
        OSError(EIO) when they could not be recorded, as the write would.
        """
        try:
            self._markers((os.getpid(), markers_in(data)))
        except pyfuse3.FUSEError as e:
            raise OSError(e.errno, os.strerror(e.errno)) from None

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
