"""Reading a trace: check it whole in one streaming pass, then stream its operations.

It must never hold a whole trace in memory, and never trust one: every path
is checked on every read, a chunk is decoded into at most the bytes it
declares, and a trace without a valid footer is refused unless the caller
asks for the valid prefix. Versions 1 (initial files inline in the header)
and 2 (initial files in chunk records after it) both read.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgpack

from powercut.errors import TraceError
from powercut.trace.format import (
    CHUNK_KIND,
    FORMAT_KIND,
    MAX_FILE_OFFSET,
    READ_VERSIONS,
    STATUSES,
    Chunk,
    Op,
    check_path,
    chunk_from_record,
    op_from_record,
)
from powercut.trace.limits import unpacker as _unpacker


@dataclass(frozen=True)
class InitialEntry:
    """One entry of the tree before the workload ran. A file's bytes are `data` in a
    version 1 trace; in version 2 they come from `Trace.initial_chunks()` and `data` is
    empty. `size` is a file's size either way."""

    path: str
    kind: Literal["file", "dir", "symlink"]
    mode: int
    data: bytes = b""
    target: str = ""
    size: int = 0


def _initial_entries(raw: object, version: int) -> tuple[InitialEntry, ...]:
    if not isinstance(raw, list):
        raise TraceError("header 'initial' is not a list")
    out = []
    for e in raw:
        if not isinstance(e, dict) or e.get("kind") not in ("file", "dir", "symlink"):
            raise TraceError(f"header 'initial' entry {str(e)[:60]!r} is malformed")
        path = check_path(e.get("path"), "initial entry path")
        mode = e.get("mode")
        if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
            raise TraceError(f"initial entry {path!r}: mode {mode!r} is not a permission mode")
        data = e.get("data", b"")
        target = e.get("target", "")
        if not isinstance(data, bytes) or not isinstance(target, str) or "\0" in target:
            raise TraceError(f"initial entry {path!r}: data or target of the wrong type")
        size = len(data)
        if version >= 2 and e["kind"] == "file":
            size = e.get("size")
            if data or not isinstance(size, int) or isinstance(size, bool) or not (
                    0 <= size <= MAX_FILE_OFFSET):
                raise TraceError(f"initial entry {path!r}: a version 2 file has a size in "
                                 "0..16 TiB and its bytes in chunks, not in the header")
        out.append(InitialEntry(path, e["kind"], mode, data, target, size))
    return tuple(out)


def decode(chunk: Chunk) -> bytes:
    """A chunk's bytes, never more than it declares (a hostile chunk may be a zip bomb)."""
    if chunk.codec == "raw":
        return chunk.data
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(chunk.data, chunk.length)
    except zlib.error as e:
        raise TraceError(f"chunk of {chunk.path!r} at {chunk.offset}: cannot be decoded "
                         f"({e})") from None
    if len(out) != chunk.length or inflater.unconsumed_tail or not inflater.eof:
        raise TraceError(f"chunk of {chunk.path!r} at {chunk.offset}: decodes to other than "
                         f"the {chunk.length} bytes it declares")
    return out


@dataclass(frozen=True)
class Trace:
    """A checked trace on disk. `ops()` streams its operations afresh each call."""

    path: Path
    header: Mapping[str, Any]
    initial: tuple[InitialEntry, ...]
    op_count: int
    status: str  # footer status, or "truncated" when only a valid prefix is used
    digest: str | None
    _body_end: int  # byte offset where the operations stop (footer or cut)
    _chunks_at: int = 0  # byte offset of the first chunk record (version 2)
    chunks: int = 0  # chunk records (version 2)
    _ops_at: int = 0  # byte offset of the first operation

    @property
    def page_size(self) -> int:
        return int(self.header["page_size"])

    @property
    def version(self) -> int:
        return int(self.header["version"])

    @property
    def fs(self) -> Mapping[str, Any] | None:
        """The kernel file system the workload ran on (`record --fs`), or None."""
        fs = self.header.get("fs")
        return fs if isinstance(fs, dict) else None

    def initial_chunks(self) -> Iterator[tuple[str, int, bytes]]:
        """(path, offset, bytes) of every initial file's stored data, in trace order."""
        if self.version < 2:
            for entry in self.initial:
                if entry.kind == "file" and entry.data:
                    yield entry.path, 0, entry.data
            return
        sizes = {e.path: e.size for e in self.initial if e.kind == "file"}
        ends: dict[str, int] = {}
        with open(self.path, "rb") as f:
            f.seek(self._chunks_at)
            unpacker = _unpacker(f)
            try:
                for _ in range(self.chunks):
                    chunk = chunk_from_record(next(unpacker), sizes, ends)
                    yield chunk.path, chunk.offset, decode(chunk)
            except (ValueError, msgpack.UnpackException, StopIteration) as e:
                raise TraceError(f"{self.path}: changed while being read ({e})") from None

    @property
    def workload(self) -> Mapping[str, Any]:
        w = self.header.get("workload")
        return w if isinstance(w, dict) else {}

    def ops(self) -> Iterator[Op]:
        with open(self.path, "rb") as f:
            f.seek(self._ops_at)
            unpacker = _unpacker(f)
            try:
                for seq in range(self.op_count):
                    yield op_from_record(next(unpacker), seq)
            except (ValueError, msgpack.UnpackException, StopIteration) as e:
                raise TraceError(f"{self.path}: changed while being read ({e})") from None


def open_trace(path: Path | str, *, allow_prefix: bool = False) -> Trace:
    """Check a whole trace (structure, every op, footer, digest) in one streaming pass.

    With `allow_prefix`, a trace cut short (no footer, or a broken last
    record) yields its valid prefix instead of an error; an altered trace
    (footer present, digest wrong) is refused either way.
    """
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise TraceError(f"cannot read trace {path}: {e.strerror}") from None
    with f:
        unpacker = _unpacker(f)
        header: dict[str, Any] | None = None
        footer: dict[str, Any] | None = None
        n_ops, last_good, cut = 0, 0, None
        chunks_at = ops_at = n_chunks = 0
        sizes: dict[str, int] = {}
        ends: dict[str, int] = {}
        while True:
            try:
                rec = next(unpacker)
            except StopIteration:
                if unpacker.tell() != last_good or header is None:
                    cut = "ends in the middle of a record"
                break
            except (ValueError, msgpack.UnpackException) as e:
                cut = f"undecodable record after operation {n_ops} ({type(e).__name__})"
                break
            pos = unpacker.tell()
            try:
                if header is None:
                    header = _check_header(rec)
                    chunks_at = ops_at = pos
                    sizes = {e["path"]: e["size"] for e in header["initial"]
                             if e["kind"] == "file" and header["version"] >= 2}
                elif isinstance(rec, dict) and rec.get("kind") == "end":
                    footer = rec
                    break
                elif isinstance(rec, dict) and rec.get("kind") == CHUNK_KIND:
                    if n_ops:
                        raise TraceError(f"a chunk after operation {n_ops - 1}: chunks come "
                                         "before the first operation")
                    decode(chunk_from_record(rec, sizes, ends))
                    n_chunks += 1
                    ops_at = pos
                else:
                    op_from_record(rec, n_ops)
                    n_ops += 1
            except TraceError as e:
                # A record that decodes but breaks the contract is malformed, not
                # cut short: refuse it whole, even when a prefix was asked for.
                raise TraceError(f"{path}: {e}") from None
            last_good = pos
        if header is None:
            raise TraceError(f"{path}: not a powercut trace (no valid header)")
        if footer is None or cut is not None:
            why = cut or "no footer"
            if not allow_prefix:
                raise TraceError(
                    f"{path}: trace cut short after {n_ops} operations ({why}); "
                    "pass --prefix to use the valid prefix")
            return Trace(path, header, _initial_entries(header["initial"], header["version"]),
                         n_ops, "truncated", None, last_good, chunks_at, n_chunks, ops_at)
        end = unpacker.tell()
        if footer.get("digest") != _digest_of_prefix(f, last_good):
            raise TraceError(f"{path}: digest mismatch, the trace was altered after recording")
        if footer.get("ops") != n_ops:
            raise TraceError(f"{path}: footer counts {footer.get('ops')!r} ops, trace has {n_ops}")
        if end != os.fstat(f.fileno()).st_size:
            raise TraceError(f"{path}: bytes follow the footer")
        status = footer.get("status")
        if status not in STATUSES:
            raise TraceError(f"{path}: footer status {status!r} is not one of {STATUSES}")
        return Trace(path, header, _initial_entries(header["initial"], header["version"]),
                     n_ops, status, footer["digest"], last_good, chunks_at, n_chunks, ops_at)


def _digest_of_prefix(f: BinaryIO, length: int) -> str:
    digest = hashlib.sha256()
    f.seek(0)
    while length > 0:
        chunk = f.read(min(length, 1 << 20))
        if not chunk:
            break
        digest.update(chunk)
        length -= len(chunk)
    return "sha256:" + digest.hexdigest()


def _check_header(rec: object) -> dict[str, Any]:
    if not isinstance(rec, dict) or rec.get("kind") != FORMAT_KIND:
        raise TraceError("not a powercut trace (bad header)")
    version = rec.get("version")
    if version not in READ_VERSIONS or isinstance(version, bool):
        raise TraceError(f"trace format version {version!r}; this powercut reads versions "
                         f"{', '.join(map(str, READ_VERSIONS))}")
    page_size = rec.get("page_size")
    if not isinstance(page_size, int) or not 512 <= page_size <= 1 << 24 or (
            page_size & (page_size - 1)):
        raise TraceError(f"header page_size {page_size!r} is not a power of two in [512, 16M]")
    missing = {"argv", "workload", "tool_version", "started_at", "initial"} - rec.keys()
    if missing:
        raise TraceError(f"header misses {sorted(missing)}")
    entries = _initial_entries(rec["initial"], version)
    fs = rec.get("fs")
    if fs is not None:
        image = fs.get("image") if isinstance(fs, dict) else None
        if not isinstance(fs, dict) or not isinstance(fs.get("type"), str) or not any(
                e.path == image and e.kind == "file" for e in entries):
            raise TraceError("header 'fs' must name its file-system type and an image file "
                             "of the initial tree")
    return rec
