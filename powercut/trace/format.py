"""The trace format's contract: its constants, its paths and its operations.

A trace is a versioned msgpack stream (README, "Trace format"): a header
map, in version 2 the chunks of the initial files (sparse and compressed,
each a record of its own), one map per operation, a footer with the
operation count and a sha256 digest of every byte before it. This module
says what a valid operation is (`op_from_record`), what a valid chunk is
(`chunk_from_record`) and what a safe path is (`check_path`); `reader` and
`writer` stream whole traces. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from powercut.errors import TraceError
from powercut.trace.limits import MAX_CHUNK_BYTES

FORMAT_KIND = "powercut-trace"
# Version 2 moved the initial files' bytes out of the header into chunk
# records. A writer uses the oldest version that holds its trace (1 when no
# initial file needs chunks), so older readers keep reading what they can.
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
CHUNK_KIND = "chunk"
CODECS = ("raw", "zlib")
STATUSES = ("complete", "interrupted", "workload-failed")
Status = Literal["complete", "interrupted", "workload-failed"]
RENAME_FLAGS = (0, "noreplace", "exchange")

# Fields each op must carry besides seq, t_ns and pid, with their types.
OP_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "create": {"path": str, "mode": int},
    "mkdir": {"path": str, "mode": int},
    "unlink": {"path": str},
    "rmdir": {"path": str},
    "fsyncdir": {"path": str},
    "rename": {"src": str, "dst": str, "flags": (int, str)},
    "link": {"src": str, "dst": str},
    "symlink": {"path": str, "target": str},
    "write": {"path": str, "offset": int, "data": bytes},
    "truncate": {"path": str, "size": int},
    "fallocate": {"path": str, "offset": int, "length": int, "mode": int},
    "chmod": {"path": str, "mode": int},
    "fsync": {"path": str, "datasync": bool},
    "marker": {"text": str},
}
# Fields an op may carry, checked when present (traces written before they
# existed stay valid; the Op field is None when absent).
OP_OPTIONAL_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "fsyncdir": {"datasync": bool},
}
# Ops whose path may be "" (the mount root): only a directory sync can name it,
# since nothing can create, remove or write the root itself.
ROOT_PATH_OPS = frozenset({"fsyncdir"})
PATH_KEYS = ("path", "src", "dst")
# Offsets and sizes past this are refused: no real trace needs them, and a
# hostile one could otherwise ask the replayer for an exabyte sparse file.
MAX_FILE_OFFSET = 1 << 44  # 16 TiB


def check_path(path: object, what: str = "path", *, root: bool = False) -> str:
    """Return `path` if it is a safe relative trace path, else raise TraceError.

    With `root`, "" (the mount root itself) is accepted too.
    """
    if not isinstance(path, str):
        raise TraceError(f"{what} {path!r} is not a string")
    if path == "" and root:
        return path
    if path == "" or path.startswith("/") or "\0" in path:
        raise TraceError(f"{what} {path!r} is not a relative path")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise TraceError(f"{what} {path!r} has an empty, '.' or '..' component")
    return path


@dataclass(frozen=True, slots=True)
class Op:
    """One recorded operation. Fields not used by `op` are None."""

    seq: int
    t_ns: int
    pid: int
    op: str
    path: str | None = None
    src: str | None = None
    dst: str | None = None
    mode: int | None = None
    flags: int | str | None = None
    target: str | None = None
    offset: int | None = None
    data: bytes | None = None
    size: int | None = None
    length: int | None = None
    datasync: bool | None = None
    text: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p for p in (self.path, self.src, self.dst) if p is not None)


OP_ATTRS = frozenset(Op.__dataclass_fields__) - {"extra"}


def _is(value: object, typ: type | tuple[type, ...]) -> bool:
    # bool is an int in Python, never in a trace: only a bool field takes one.
    return isinstance(value, typ) and (typ is bool or not isinstance(value, bool))


def op_from_record(rec: object, expected_seq: int) -> Op:
    """Validate one decoded record and turn it into an Op."""
    if not isinstance(rec, dict):
        raise TraceError(f"record {expected_seq} is not a map")
    seq = rec.get("seq")
    if seq != expected_seq:
        raise TraceError(f"operation seq {seq!r} where {expected_seq} was expected")
    name = rec.get("op")
    if name not in OP_FIELDS:
        raise TraceError(f"seq {seq}: unknown op {name!r}")
    for key in ("t_ns", "pid"):
        if not isinstance(rec.get(key), int) or isinstance(rec.get(key), bool):
            raise TraceError(f"seq {seq} {name}: {key} is missing or not an integer")
    kwargs: dict[str, Any] = {}
    for key, typ in OP_FIELDS[name].items():
        value = rec.get(key)
        if not _is(value, typ):
            raise TraceError(f"seq {seq} {name}: field {key!r} is missing or of the wrong type")
        kwargs[key] = value
    for key, typ in OP_OPTIONAL_FIELDS.get(name, {}).items():
        if key in rec:
            if not _is(rec[key], typ):
                raise TraceError(f"seq {seq} {name}: field {key!r} is of the wrong type")
            kwargs[key] = rec[key]
    for key in PATH_KEYS:
        if key in kwargs:
            check_path(kwargs[key], f"seq {seq} {name}: {key}", root=name in ROOT_PATH_OPS)
    for key in ("offset", "size", "length"):
        if key in kwargs and not 0 <= kwargs[key] <= MAX_FILE_OFFSET:
            raise TraceError(f"seq {seq} {name}: {key} {kwargs[key]} is out of range")
    if name == "write" and kwargs["offset"] + len(kwargs["data"]) > MAX_FILE_OFFSET:
        raise TraceError(f"seq {seq} write: ends past {MAX_FILE_OFFSET} bytes")
    if name == "fallocate" and kwargs["offset"] + kwargs["length"] > MAX_FILE_OFFSET:
        raise TraceError(f"seq {seq} fallocate: ends past {MAX_FILE_OFFSET} bytes")
    if name == "rename" and kwargs["flags"] not in RENAME_FLAGS:
        raise TraceError(f"seq {seq} rename: flags {kwargs['flags']!r} not one of {RENAME_FLAGS}")
    if "mode" in kwargs and not 0 <= kwargs["mode"] <= 0o177777:
        raise TraceError(f"seq {seq} {name}: mode {kwargs['mode']!r} is out of range")
    if name == "symlink" and "\0" in kwargs["target"]:
        raise TraceError(f"seq {seq} symlink: target holds a NUL byte")
    extra = {k: v for k, v in rec.items() if k not in OP_ATTRS and k != "op"}
    return Op(seq=seq, t_ns=rec["t_ns"], pid=rec["pid"], op=name, extra=extra, **kwargs)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Bytes of an initial file at `offset` (version 2), still in the trace's `codec`."""

    path: str
    offset: int
    length: int  # bytes once decoded
    codec: str
    data: bytes


def chunk_from_record(rec: dict[str, Any], sizes: Mapping[str, int],
                      ends: dict[str, int]) -> Chunk:
    """Validate one chunk record against the initial files' `sizes`.

    `ends` maps each path to the end of its last chunk so far: chunks of a
    file come in ascending, non-overlapping order (updated here).
    """
    path = rec.get("path")
    if not isinstance(path, str) or path not in sizes:
        raise TraceError(f"chunk of {str(path)[:80]!r}: not a file of the initial tree")
    offset, length, codec, data = (rec.get(k) for k in ("offset", "length", "codec", "data"))
    if not _is(offset, int) or not _is(length, int) or not isinstance(data, bytes):
        raise TraceError(f"chunk of {path!r}: offset, length or data of the wrong type")
    if codec not in CODECS:
        raise TraceError(f"chunk of {path!r}: codec {codec!r} is not one of {CODECS}")
    if not 0 < length <= MAX_CHUNK_BYTES:
        raise TraceError(f"chunk of {path!r}: length {length} is not in 1..{MAX_CHUNK_BYTES}")
    if offset < ends.get(path, 0) or offset + length > sizes[path]:
        raise TraceError(f"chunk of {path!r} at {offset}: overlaps an earlier chunk or ends "
                         f"past the file's size {sizes[path]}")
    if codec == "raw" and len(data) != length:
        raise TraceError(f"chunk of {path!r} at {offset}: {len(data)} bytes, {length} declared")
    ends[path] = offset + length
    return Chunk(path, offset, length, codec, data)
