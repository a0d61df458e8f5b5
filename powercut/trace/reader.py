"""Reading a trace: check it whole in one streaming pass, then stream its operations.

It must never hold a whole trace in memory, and never trust one: every path
is checked on every read, and a trace without a valid footer is refused
unless the caller asks for the valid prefix.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgpack

from powercut.errors import TraceError
from powercut.trace.format import (
    FORMAT_KIND,
    FORMAT_VERSION,
    MAX_ENTRIES,
    MAX_RECORD_BYTES,
    STATUSES,
    Op,
    check_path,
    op_from_record,
)


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

    @property
    def fault(self) -> Mapping[str, Any] | None:
        """The call `record --fail` failed in this run (`call`, `path`, `nth`, `errno`,
        `errno_name`), or None for a trace recorded without one."""
        fault = self.header.get("fault")
        return fault if isinstance(fault, dict) else None

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
    fault = rec.get("fault")
    if fault is not None and not (
            isinstance(fault, dict) and all(isinstance(fault.get(k), t) for k, t in (
                ("call", str), ("path", str), ("nth", int), ("errno", int)))):
        raise TraceError("header 'fault' is not a map with call, path, nth and errno")
    return rec
