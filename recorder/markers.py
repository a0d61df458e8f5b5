"""Markers: how a workload tells powercut "this was acknowledged", in order with its file ops.

Any program running on the recording mount may write lines to the control
file `<mnt>/.powercut/marker`. Each complete line becomes one `marker` op
in the trace, stamped by the same counter as the file operations, so its
place in the trace is its real place. A line holding a JSON object gives
the marker its fields (`text` is its own `text` if it is a string, else the
line itself); any other line is plain `text`. Field names the trace format
reserves for other ops (`path`, `data`, `size`, ...) are kept as
`marker_<name>`, so a marker can never pose as a file operation.

`.powercut/` is virtual: the FS layer answers its lookups, attributes,
directory listing and writes from here. Nothing of it reaches the backing
directory, and nothing but `marker` ops reaches the trace, so it is absent
from the trace's file tree. The recording FS calls `ControlFiles`; this
module must never touch the backing directory or the trace writer itself.

A workload running in the recorder's own process (through
`workload.Markers`) hands its lines straight to the recording file system
(`RecorderFS.report_markers`), without a FUSE round trip each; they become
the same `marker` ops, recorded under the same lock as file operations, so
the order is as real as through the control file.

A workload must write its marker only after it has seen the acknowledgement
(late is sound, early is not): the marker then follows every file operation
the acknowledgement depended on.
"""

from __future__ import annotations

import errno
import json
import stat
import time
from dataclasses import dataclass, field
from typing import Any

import pyfuse3

from powercut.trace import OP_ATTRS

CONTROL_DIR = ".powercut"
MARKER_FILE = "marker"
# FUSE inode numbers the inode table never hands out (it counts up from 2).
CONTROL_INO = 1 << 62
MARKER_INO = CONTROL_INO + 1
VIRTUAL_INODES = frozenset((CONTROL_INO, MARKER_INO))
# A marker line longer than this is cut into several markers. Decoding turns
# each invalid UTF-8 byte into U+FFFD (3 bytes), so a line stays under the
# trace reader's 1 MiB string limit only if it is at most a third of it.
MAX_LINE = 1 << 18
_RESERVED = (OP_ATTRS | {"op"}) - {"text"}


def marker_fields(line: bytes) -> dict[str, Any]:
    """The fields of the marker op one control-file line becomes (pure)."""
    raw = line.rstrip(b"\r\n").decode("utf-8", "replace")
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return {"text": raw}
    fields = {(f"marker_{k}" if k in _RESERVED else str(k)): v for k, v in parsed.items()}
    if not isinstance(fields.get("text"), str):
        fields["text"] = raw
    return fields


@dataclass
class MarkerLines:
    """Bytes written to one open control file, cut into complete lines."""

    pending: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        self.pending += data
        lines = []
        while True:
            end = self.pending.find(b"\n")
            if end < 0:
                if len(self.pending) < MAX_LINE:
                    return lines
                end = MAX_LINE - 1
            lines.append(bytes(self.pending[:end + 1]))
            del self.pending[:end + 1]

    def rest(self) -> list[bytes]:
        """An unterminated last line still counts, once the file is closed or synced."""
        if not self.pending.strip():
            self.pending.clear()
            return []
        line = bytes(self.pending)
        self.pending.clear()
        return [line]


def markers_in(data: bytes) -> list[dict[str, Any]]:
    """The markers `data` makes when written whole to a control file and closed (pure)."""
    lines = MarkerLines()
    return [marker_fields(line) for line in lines.feed(data) + lines.rest()]


def _attrs(ino: int) -> pyfuse3.EntryAttributes:
    a = pyfuse3.EntryAttributes()
    a.st_ino = ino
    if ino == CONTROL_INO:
        a.st_mode, a.st_nlink = stat.S_IFDIR | 0o755, 2
    else:
        a.st_mode, a.st_nlink = stat.S_IFREG | 0o666, 1
    now = time.time_ns()
    a.st_atime_ns = a.st_mtime_ns = a.st_ctime_ns = now
    a.st_blksize = 4096
    # No caching: each lookup comes back here, so the entries never go stale.
    a.attr_timeout = a.entry_timeout = 0
    return a


class ControlFiles:
    """The virtual `.powercut/` directory: attributes, listing, open control files."""

    def __init__(self) -> None:
        self.open: dict[int, tuple[MarkerLines, int]] = {}  # fh -> (lines, opener pid)

    @staticmethod
    def is_control(parent: int, name: bytes) -> bool:
        """True for `.powercut` in the mount root and anything inside it."""
        return parent in VIRTUAL_INODES or (parent == pyfuse3.ROOT_INODE
                                             and name == CONTROL_DIR.encode())

    @staticmethod
    def lookup(parent: int, name: bytes) -> pyfuse3.EntryAttributes:
        if parent == pyfuse3.ROOT_INODE and name == CONTROL_DIR.encode():
            return _attrs(CONTROL_INO)
        if parent == CONTROL_INO and name == MARKER_FILE.encode():
            return _attrs(MARKER_INO)
        if parent == CONTROL_INO and name == b".":
            return _attrs(CONTROL_INO)
        raise pyfuse3.FUSEError(errno.ENOENT)

    @staticmethod
    def getattr(ino: int) -> pyfuse3.EntryAttributes:
        return _attrs(ino)

    @staticmethod
    def readdir(start_id: int, token: pyfuse3.ReaddirToken) -> None:
        if start_id == 0:
            pyfuse3.readdir_reply(token, MARKER_FILE.encode(), _attrs(MARKER_INO), 1)

    def opened(self, fh: int, ino: int, pid: int) -> None:
        if ino != MARKER_INO:
            raise pyfuse3.FUSEError(errno.EISDIR)
        self.open[fh] = (MarkerLines(), pid)

    def write(self, fh: int, data: bytes) -> tuple[int, list[dict[str, Any]]]:
        """(opener pid, the markers the complete lines written so far make)."""
        lines, pid = self.open[fh]
        return pid, [marker_fields(line) for line in lines.feed(data)]

    def flush(self, fh: int) -> tuple[int, list[dict[str, Any]]]:
        lines, pid = self.open[fh]
        return pid, [marker_fields(line) for line in lines.rest()]

    def release(self, fh: int) -> tuple[int, list[dict[str, Any]]]:
        markers = self.flush(fh)
        del self.open[fh]
        return markers

