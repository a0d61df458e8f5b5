"""Writing a trace as operations happen: `TraceWriter`, and the initial tree of a directory.

Each record goes to the kernel at once, so a recorder killed mid-run leaves
every operation it acknowledged as a readable prefix. It must never write a
record after a torn one, nor one its reader would refuse (`limits`).

Initial files are stored as version 2 chunks when one of them is large
(`CHUNKED_FROM` bytes or more, a file-system image): only the allocated
extents (SEEK_DATA/SEEK_HOLE), only their pages that are not all zeros,
compressed, at most `CHUNK_BYTES` a record, streamed from the disk so a
large image is never held in memory. A trace without a large initial file
is written as version 1, which older readers read.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from powercut import __version__
from powercut.errors import TraceError
from powercut.sparse import data_extents
from powercut.trace.format import CHUNK_KIND, FORMAT_KIND, FORMAT_VERSION, Status
from powercut.trace.limits import check_record

CHUNKED_FROM = 1 << 20  # an initial file this large makes the trace version 2
CHUNK_BYTES = 4 << 20  # uncompressed bytes of one chunk record at most
_PAGE = 4096  # runs of all-zero pages of this size are left out of chunks
_ZEROS = bytes(_PAGE)


def initial_tree(root: Path) -> list[dict[str, Any]]:
    """The tree under `root` as header `initial` entries, parents before children.

    A file's entry names its `source` (its real path) and `size`; the writer
    reads its bytes from there, sparsely.
    """
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
                entries.append({"path": rel, "kind": "file", "mode": mode, "size": st.st_size,
                                "source": full})
    return entries


def _nonzero_runs(data: bytes, base: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of each run of `data` (at file offset `base`) that is not all-zero
    pages, pages aligned on the file's offsets."""
    view = memoryview(data)
    start = None
    pos = 0
    while pos < len(data):
        end = min(len(data), (base + pos) // _PAGE * _PAGE + _PAGE - base)
        zero = view[pos:end] == _ZEROS[:end - pos]
        if zero and start is not None:
            yield base + start, bytes(view[start:pos])
            start = None
        elif not zero and start is None:
            start = pos
        pos = end
    if start is not None:
        yield base + start, bytes(view[start:])


def _file_runs(entry: Mapping[str, Any]) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of an initial file's stored data, at most CHUNK_BYTES each."""
    if "source" not in entry:
        data = entry.get("data", b"")
        for at in range(0, len(data), CHUNK_BYTES):
            yield from _nonzero_runs(data[at:at + CHUNK_BYTES], at)
        return
    with open(entry["source"], "rb") as f:
        size = os.fstat(f.fileno()).st_size
        for start, end in data_extents(f.fileno(), size):
            for at in range(start, end, CHUNK_BYTES):
                data = os.pread(f.fileno(), min(CHUNK_BYTES, end - at), at)
                yield from _nonzero_runs(data, at)


class TraceWriter:
    """Appends records to a trace file as they happen.

    Each record goes to the kernel at once (no user-space buffer), so a
    recorder killed mid-run leaves every operation it had acknowledged on
    disk, as a prefix without footer. `close` writes the footer and fsyncs.
    """

    def __init__(self, path: Path | str, *, argv: list[str], workload: Mapping[str, Any],
                 page_size: int = 4096, initial: list[dict[str, Any]] | None = None,
                 fs: Mapping[str, Any] | None = None,
                 fault: Mapping[str, Any] | None = None) -> None:
        """`initial` entries give a file's bytes as `data` or as a `source` path to read.
        `fs` is the kernel file system the workload runs on (`record --fs`), `fault` the
        call `record --fail` fails: its trace is version 2, whose ops may carry `errno`,
        so a reader that knows only version 1 refuses it rather than replay a failed
        write as if it had happened."""
        self.path = Path(path)
        self._digest = hashlib.sha256()
        self._packer = msgpack.Packer(use_bin_type=True)
        self.ops = 0
        self.closed = False
        self.failed: OSError | None = None  # the write that failed (disk full...), if any
        entries = list(initial or [])
        # Version 2 (initial files in chunks) for large files, and for a fault's trace.
        chunked = fault is not None or any(
            e.get("kind") == "file" and _size(e) >= CHUNKED_FROM for e in entries)
        header: dict[str, Any] = {
            "kind": FORMAT_KIND, "version": FORMAT_VERSION if chunked else 1,
            "page_size": page_size, "argv": list(argv), "workload": dict(workload),
            "tool_version": __version__, "started_at": time.time(),
            "initial": [_header_entry(e, chunked) for e in entries],
        }
        if fs is not None:
            header["fs"] = dict(fs)
        if fault is not None:
            header["fault"] = dict(fault)
        self._check(header)  # before the file exists: a refused header writes nothing
        self._file: BinaryIO = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        try:
            self._emit(header, checked=True)
            if chunked:
                for entry in entries:
                    if entry.get("kind") == "file":
                        self._chunks(entry)
        except BaseException:
            self._file.close()
            raise

    def _chunks(self, entry: Mapping[str, Any]) -> None:
        for offset, data in _file_runs(entry):
            packed = zlib.compress(data, 3)
            codec, stored = ("zlib", packed) if len(packed) < len(data) else ("raw", data)
            self._emit({"kind": CHUNK_KIND, "path": entry["path"], "offset": offset,
                        "length": len(data), "codec": codec, "data": stored})

    def _check(self, record: Mapping[str, Any]) -> bytes:
        blob = self._packer.pack(record)
        check_record(record, len(blob))
        return blob

    def _emit(self, record: Mapping[str, Any], *, checked: bool = False) -> None:
        if self.failed is not None:
            # A record after a torn one would make the valid prefix unreadable.
            raise OSError(self.failed.errno, f"an earlier trace write failed: {self.failed}")
        try:
            blob = self._check(record)
        except TraceError:
            if checked:
                raise
            # Refused before a byte of it was written: the trace stays a valid prefix,
            # but nothing may follow a record that was never written.
            self.failed = OSError(0, str(sys.exc_info()[1]))
            raise
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
        """Write the footer (not after a failed or refused record) and fsync."""
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


def _size(entry: Mapping[str, Any]) -> int:
    if "size" in entry:
        return int(entry["size"])
    return len(entry.get("data", b""))


def _header_entry(entry: Mapping[str, Any], chunked: bool) -> dict[str, Any]:
    """The entry as the header holds it: version 2 files carry their size, version 1
    files their bytes (read from `source` when given)."""
    out = {k: v for k, v in entry.items() if k not in ("source", "data", "size")}
    if entry.get("kind") != "file":
        return out
    if chunked:
        out["size"] = _size(entry)
    elif "source" in entry:
        with open(entry["source"], "rb") as f:
            out["data"] = f.read()
    else:
        out["data"] = entry.get("data", b"")
    return out
