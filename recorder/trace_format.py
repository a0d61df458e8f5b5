"""The trace format: a versioned msgpack stream, written as operations happen.

This module is the contract other tools read and write (DESIGN.md, README):
a header map, one map per operation, a footer with the operation count and a
sha256 digest of every byte before it. It must never hold a whole trace in
memory, and never trust one: every path is checked on every read, and a
trace without a valid footer is refused unless the caller asks for the valid
prefix.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgpack

from powercut import __version__
from powercut.errors import TraceError

FORMAT_KIND = "powercut-trace"
FORMAT_VERSION = 1
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
PATH_KEYS = ("path", "src", "dst")
# Offsets and sizes past this are refused: no real trace needs them, and a
# hostile one could otherwise ask the replayer for an exabyte sparse file.
MAX_FILE_OFFSET = 1 << 44  # 16 TiB
# Reader limits: a hostile length prefix must not make msgpack allocate.
MAX_RECORD_BYTES = 256 << 20
MAX_ENTRIES = 1 << 20


def check_path(path: object, what: str = "path") -> str:
    """Return `path` if it is a safe relative trace path, else raise TraceError."""
    if not isinstance(path, str):
        raise TraceError(f"{what} {path!r} is not a string")
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

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"seq": self.seq, "t_ns": self.t_ns, "pid": self.pid, "op": self.op}
        for name in OP_FIELDS[self.op]:
            rec[name] = getattr(self, name)
        rec.update(self.extra)
        return rec

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p for p in (self.path, self.src, self.dst) if p is not None)


_OP_ATTRS = frozenset(Op.__dataclass_fields__) - {"extra"}


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
        ok = isinstance(value, typ) and (typ is bool or not isinstance(value, bool))
        if not ok:
            raise TraceError(f"seq {seq} {name}: field {key!r} is missing or of the wrong type")
        kwargs[key] = value
    for key in PATH_KEYS:
        if key in kwargs:
            check_path(kwargs[key], f"seq {seq} {name}: {key}")
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
    extra = {k: v for k, v in rec.items() if k not in _OP_ATTRS and k != "op"}
    return Op(seq=seq, t_ns=rec["t_ns"], pid=rec["pid"], op=name, extra=extra, **kwargs)


# --------------------------------------------------------------------------- writing


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
                 page_size: int = 4096, initial: list[dict[str, Any]] | None = None) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._digest = hashlib.sha256()
        self._packer = msgpack.Packer(use_bin_type=True)
        self.ops = 0
        self.closed = False
        self.failed: OSError | None = None  # the write that failed (disk full...), if any
        self._emit({
            "kind": FORMAT_KIND, "version": FORMAT_VERSION, "page_size": page_size,
            "argv": list(argv), "workload": dict(workload), "tool_version": __version__,
            "started_at": time.time(), "initial": initial or [],
        })

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


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class InitialEntry:
    path: str
    kind: Literal["file", "dir", "symlink"]
    mode: int
    data: bytes = b""
    target: str = ""


def _unpacker(f: BinaryIO) -> msgpack.Unpacker:
    return msgpack.Unpacker(
        f, raw=False, strict_map_key=True, use_list=True,
        max_buffer_size=MAX_RECORD_BYTES, max_bin_len=MAX_RECORD_BYTES,
        max_str_len=1 << 20, max_array_len=MAX_ENTRIES, max_map_len=MAX_ENTRIES,
        max_ext_len=0,
    )


def _initial_entries(raw: object) -> tuple[InitialEntry, ...]:
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
        out.append(InitialEntry(path, e["kind"], mode, data, target))
    return tuple(out)


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

    @property
    def page_size(self) -> int:
        return int(self.header["page_size"])

    @property
    def workload(self) -> Mapping[str, Any]:
        w = self.header.get("workload")
        return w if isinstance(w, dict) else {}

    def ops(self) -> Iterator[Op]:
        with open(self.path, "rb") as f:
            unpacker = _unpacker(f)
            try:
                next(unpacker)  # header, checked in open_trace
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
                elif isinstance(rec, dict) and rec.get("kind") == "end":
                    footer = rec
                    break
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
            return Trace(path, header, _initial_entries(header["initial"]), n_ops,
                         "truncated", None, last_good)
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
        return Trace(path, header, _initial_entries(header["initial"]), n_ops, status,
                     footer["digest"], last_good)


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
    if rec.get("version") != FORMAT_VERSION:
        raise TraceError(f"trace format version {rec.get('version')!r}; "
                         f"this powercut reads version {FORMAT_VERSION}")
    page_size = rec.get("page_size")
    if not isinstance(page_size, int) or not 512 <= page_size <= 1 << 24 or (
            page_size & (page_size - 1)):
        raise TraceError(f"header page_size {page_size!r} is not a power of two in [512, 16M]")
    missing = {"argv", "workload", "tool_version", "started_at", "initial"} - rec.keys()
    if missing:
        raise TraceError(f"header misses {sorted(missing)}")
    _initial_entries(rec["initial"])
    return rec
