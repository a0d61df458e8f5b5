"""Writing a trace as operations happen: `TraceWriter`, and the initial tree of a directory.

Each record goes to the kernel at once, so a recorder killed mid-run leaves
every operation it acknowledged as a readable prefix. It must never write a
record after a torn one.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from powercut import __version__
from powercut.trace.format import FORMAT_KIND, FORMAT_VERSION, Status


def initial_tree(root: Path) -> list[dict[str, Any]]:
    """The tree under `root` as header `initial` entries, parents before children."""
    entries: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            mode = st.st_mode & 0o7777
            if os.path.islink(full):
                entries.append({"path": rel, "kind": "symlink", "mode": mode,
                                "target": os.readlink(full)})
            elif os.path.isdir(full):
                entries.append({"path": rel, "kind": "dir", "mode": mode})
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    entries.append({"path": rel, "kind": "file", "mode": mode, "data": f.read()})
    return entries


class TraceWriter:
    """Appends records to a trace file as they happen.

    Each record goes to the kernel at once (no user-space buffer), so a
    recorder killed mid-run leaves every operation it had acknowledged on
    disk, as a prefix without footer. `close` writes the footer and fsyncs.
    """

    def __init__(self, path: Path | str, *, argv: list[str], workload: Mapping[str, Any],
                 page_size: int = 4096, initial: list[dict[str, Any]] | None = None,
                 fault: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._digest = hashlib.sha256()
        self._packer = msgpack.Packer(use_bin_type=True)
        self.ops = 0
        self.closed = False
        self.failed: OSError | None = None  # the write that failed (disk full...), if any
        header = {
            "kind": FORMAT_KIND, "version": FORMAT_VERSION, "page_size": page_size,
            "argv": list(argv), "workload": dict(workload), "tool_version": __version__,
            "started_at": time.time(), "initial": initial or [],
        }
        if fault is not None:  # the call `record --fail` fails (optional)
            header["fault"] = dict(fault)
        self._emit(header)

    def _emit(self, record: Mapping[str, Any]) -> None:
        if self.failed is not None:
            # A record after a torn one would make the valid prefix unreadable.
            raise OSError(self.failed.errno, f"an earlier trace write failed: {self.failed}")
        blob = self._packer.pack(record)
        view = memoryview(blob)
        try:
            while view:  # a raw file may write short
                n = self._file.write(view)
                view = view[n:]
        except OSError as e:
            self.failed = e
            raise
        self._digest.update(blob)

    def append(self, op: str, pid: int, **fields: Any) -> int:
        """Record one operation now; returns its seq."""
        seq = self.ops
        self._emit({"seq": seq, "t_ns": time.monotonic_ns(), "pid": pid, "op": op, **fields})
        self.ops += 1
        return seq

    def close(self, status: Status = "complete") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.failed is not None:
                return  # no footer after a torn record: the prefix stays readable
            footer = {"kind": "end", "ops": self.ops, "status": status,
                      "digest": "sha256:" + self._digest.hexdigest()}
            self._emit(footer)
            os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close("complete" if exc_type is None else "interrupted")
