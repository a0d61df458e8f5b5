"""The recording FUSE file system: a passthrough that writes each change to a trace.

Each handler only translates: a kernel request becomes a call on the backing
directory (the real files), an update of the `InodeTable`, and, when the call
succeeded and changed something, one trace record. Rules that keep the trace
true to what the program did:

- Handler bodies are plain functions with no `await`, so each runs to the
  end before trio starts another: the trace order is the completion order.
  Markers a workload in this process reports (`report_markers`, from its
  own thread) take the same lock around each record, so they fall between
  two operations, at the moment they are reported.
- `enable_writeback_cache` stays off: the kernel then hands over each write
  as the program made it (split at the kernel's maximum request size, never
  merged or reordered).
- One backing descriptor per open handle, opened with that open's flags, so
  an O_APPEND handle appends while another handle on the file does not. For
  O_APPEND writes the recorded offset is the real one: the file size just
  before the write, not the kernel's guess.
- A write that stops short on the backing file (a disk filling up) is
  recorded with the bytes that reached it, and the kernel gets the short
  count, so the program sees a short write(2) as on a real disk; one that
  fails before any byte is written is that error, and not recorded.
- `pid` is the request's pid (the kernel reports the calling thread's id).
  write, fsync, flush and fsyncdir carry no request context in pyfuse3, so
  they are recorded with the pid that opened the handle.
- Operations on an open file that has lost its last name (unlinked, or
  renamed over) are recorded under the path it had then, with
  `"orphan": true`; the replayer applies nothing visible for them.
- fallocate: pyfuse3 has no handler for it, so the kernel answers
  EOPNOTSUPP and programs fall back to ftruncate (recorded as `truncate`);
  glibc's posix_fallocate falls back to writing a byte per block.
- O_SYNC / O_DSYNC: the kernel itself sends an fsync (datasync for
  O_DSYNC) after each such write, so the trace shows the barrier.
- Extended attributes are refused (ENOSYS, which the kernel turns into
  EOPNOTSUPP for good): the trace format cannot carry them.
- `fsyncdir` is recorded for every directory, the mount root as path "",
  with `datasync` (fdatasync on a directory descriptor). A directory opened
  with open(2) reaches FUSE as OPENDIR, and fsync/fdatasync on it as
  FSYNCDIR, so both are recorded here, with the pid that opened it.
- A call the fault plan fails (`record --fail`, see `powercut.faultplan`) never reaches
  the backing file: it is recorded with its `errno` and the kernel gets
  that error, which the program sees (a failed fsync, fdatasync, write or
  directory sync).
- `.powercut/` in the mount root is virtual (`markers.ControlFiles`): lines
  written to `.powercut/marker` become `marker` ops; it never reaches the
  backing directory, and names cannot be made in or over it.

A handler must never print, log to a pipe, or block on anything but the
backing file system, and never lets an exception other than `FUSEError`
reach pyfuse3: an unexpected one becomes EIO and is kept in `errors`.
"""

from __future__ import annotations

from powercut.recorder.fs_files import FileOps
from powercut.recorder.fs_names import NameOps


class RecorderFS(NameOps, FileOps):
    """Passthrough over `backing` that appends every successful change to `writer`."""
