"""How `powercut show` draws a trace: a header summary and a table of operations.

Pure rendering: it turns a checked `Trace` (and the user's filters) into rich
renderables, in chunks so a long trace streams instead of being held whole.
Sync barriers (fsync, fdatasync, fsyncdir) are highlighted and followed by a
rule line: every crash state is decided by what lies between two of them.
A marker's text and fields are cut at `SHOWN` characters (a workload whose
values are kilobytes would fill screens per row, as a write's data would:
the table shows its length instead); `full` shows them whole.
It never prints and never opens files itself.
"""

from __future__ import annotations

import errno
import fnmatch
import time
from collections.abc import Iterator
from dataclasses import dataclass

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from powercut.errors import PowercutError
from powercut.ranges import RangeError, spans
from powercut.trace import Op, Trace

CHUNK_ROWS = 500
SHOWN = 60  # characters of a marker's text or of one of its fields shown in the table
BARRIER_OPS = frozenset({"fsync", "fsyncdir"})
STATUS_STYLE = {"complete": "green", "workload-failed": "red", "interrupted": "yellow",
                "truncated": "yellow"}


@dataclass(frozen=True)
class OpFilter:
    """Which ops to show: seq ranges (inclusive) and a glob any of the op's paths matches."""

    seqs: tuple[range, ...] = ()  # none: every op
    path_glob: str | None = None

    @classmethod
    def parse(cls, ops: str | None, path_glob: str | None) -> OpFilter:
        if not ops:
            return cls(path_glob=path_glob)
        try:
            found = spans(ops, last=OPEN_END)
        except RangeError as e:
            raise PowercutError(f"--ops {ops!r}: {e} (one range syntax: N, A-B, A-, and "
                                "lists of them: 3,7-9)") from None
        if min(r.start for r in found) < 0:
            raise PowercutError(f"--ops {ops!r}: an operation is never negative")
        return cls(tuple(found), path_glob)

    def __call__(self, op: Op) -> bool:
        if self.seqs and not any(op.seq in r for r in self.seqs):
            return False
        if self.path_glob is None:
            return True
        return any(fnmatch.fnmatchcase(p, self.path_glob) for p in op.paths)


ROOT = "(mount root)"
OPEN_END = 1 << 62  # `A-` in --ops: to the last operation, whatever the trace holds


def op_name(op: Op) -> str:
    return "fdatasync" if op.op == "fsync" and op.datasync else op.op


def cut(text: str, full: bool = False) -> str:
    """`text`, or its first `SHOWN` characters and how long it was."""
    if full or len(text) <= SHOWN:
        return text
    return f"{text[:SHOWN]}… ({len(text)} chars)"


def op_target(op: Op, full: bool = False) -> str:
    if op.op in ("rename", "link"):
        return f"{op.src} → {op.dst}"
    if op.op == "symlink":
        return f"{op.path} → {op.target}"
    if op.op == "marker":
        return cut(op.text or "", full)
    if op.op == "fsyncdir" and not op.path:
        return ROOT
    return op.path or ""


def failed_text(op: Op) -> str:
    """"FAILED EIO" for a call `record --fail` failed, else ""."""
    if op.errno is None:
        return ""
    return f"FAILED {errno.errorcode.get(op.errno, op.errno)}"


def op_detail(op: Op, full: bool = False) -> str:
    parts = [failed_text(op)] if op.failed else []
    if op.op == "fsyncdir" and op.datasync:
        parts.append("fdatasync")
    if op.mode is not None:
        parts.append(f"mode {op.mode:o}")
    if op.op == "rename" and op.flags:
        parts.append(str(op.flags))
    if op.op == "truncate":
        parts.append(f"size {op.size}")
    parts.extend(cut(f"{k}={v}", full) for k, v in op.extra.items())
    return ", ".join(parts)


def header_summary(trace: Trace) -> RenderableType:
    h = trace.header
    w = trace.workload
    what = w.get("name", "?")
    versions = [f"{k.removesuffix('_version')} {v}" for k, v in w.items()
                if k.endswith("_version") and isinstance(v, str)]
    if versions:
        what += " (" + ", ".join(versions) + ")"
    elif "argv" in w:
        what += " " + " ".join(str(a) for a in w["argv"])
    started = h.get("started_at")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)) \
        if isinstance(started, (int, float)) else "?"
    status = Text(trace.status, style=STATUS_STYLE.get(trace.status, ""))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("trace", str(trace.path))
    grid.add_row("workload", what)
    grid.add_row("recorded", f"{when} by powercut {h.get('tool_version', '?')}")
    grid.add_row("operations", f"{trace.op_count} (initial tree: {len(trace.initial)} entries, "
                               f"page size {trace.page_size})")
    if trace.fs is not None:
        fs = trace.fs
        options = f", mounted -o {fs['mount_options']}" if fs.get("mount_options") else ""
        grid.add_row("file system", f"{fs.get('type')} in {fs.get('image')} "
                     f"({int(fs.get('size') or 0) >> 20} MiB, mkfs {' '.join(fs.get('mkfs', []))}"
                     f"{options}; {fs.get('mkfs_version', '?')}; kernel {fs.get('kernel', '?')})")
    grid.add_row("status", status)
    fault = trace.fault
    if fault is not None:
        where = "" if fault.get("path") in (None, "*") else f" on {fault['path']}"
        grid.add_row("fault", Text(f"call {fault.get('nth')} of {fault.get('call')}{where} "
                                   f"fails with {fault.get('errno_name', fault.get('errno'))}",
                                   style="bold red"))
    return grid


def _table(seq_width: int, header: bool) -> Table:
    table = Table(show_header=header, header_style="bold", box=box.HORIZONTALS, pad_edge=False,
                  show_edge=False)
    table.add_column("seq", justify="right", width=seq_width, no_wrap=True)
    table.add_column("pid", justify="right", width=7, no_wrap=True)
    table.add_column("op", width=9, no_wrap=True)
    table.add_column("path", ratio=1, overflow="fold")
    table.add_column("offset", justify="right", width=10, no_wrap=True)
    table.add_column("length", justify="right", width=9, no_wrap=True)
    table.add_column("detail", width=24, overflow="fold")
    return table


def op_tables(trace: Trace, keep: OpFilter, full: bool = False) -> Iterator[Table]:
    """The selected ops as tables of at most CHUNK_ROWS rows, columns aligned across chunks
    (`full`: markers' text and fields whole)."""
    seq_width = max(3, len(str(trace.op_count)))
    table = _table(seq_width, header=True)
    rows = 0
    for op in trace.ops():
        if not keep(op):
            continue
        barrier = op.op in BARRIER_OPS
        length = op.length if op.length is not None else (
            len(op.data) if op.data is not None else None)
        table.add_row(
            str(op.seq), str(op.pid), op_name(op), op_target(op, full),
            "" if op.offset is None else str(op.offset),
            "" if length is None else str(length), op_detail(op, full),
            style="bold red" if op.failed else "bold yellow" if barrier else (
                "cyan" if op.op == "marker" else None),
            end_section=barrier)
        rows += 1
        if rows % CHUNK_ROWS == 0:
            yield table
            table = _table(seq_width, header=False)
    if rows == 0 or rows % CHUNK_ROWS:
        if rows == 0:
            table.caption = "no operation matches"
        yield table


def render(trace: Trace, keep: OpFilter, full: bool = False) -> Iterator[RenderableType]:
    yield Group(header_summary(trace), Text(""))
    yield from op_tables(trace, keep, full)
