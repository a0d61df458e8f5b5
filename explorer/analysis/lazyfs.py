"""LazyFS reproducers: an `[[injection]]` fault that makes LazyFS leave a root cause's state.

LazyFS facts this relies on (dsrhaslab/lazyfs, README and config parser):
- `torn-op`: the `occurrence`-th write to `file` (counted per path since the
  mount) is cut into `parts` equal parts or into `parts_bytes` sizes; the
  parts listed in `persist` (1-based) reach the disk, then LazyFS crashes,
  losing everything else it had not synced.
- `clear-cache`: `timing="after"` the `occurrence`-th `op` on `from`, with
  `crash=true`, LazyFS drops all unsynced data and dies. Only some ops can
  carry it (`CLEAR_OPS`); the "before" timing counts from 0 and unlink only
  has it, so only "after" is used here.
- `file`/`from` are paths in LazyFS's root directory (`-r`), not the mount.
LazyFS writes namespace operations through at once and has no fsyncdir, so
a state that loses a namespace operation has no LazyFS fault. Pure.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass

from powercut.explorer.verdict import OpSummary

DEFAULT_LAZYFS_ROOT = "/tmp/lazyfs.root"
"""Where LazyFS keeps the real files (its `-r`), as in LazyFS's own README."""

CLEAR_OPS: dict[str, str] = {
    # powercut op -> LazyFS op for a clear-cache fault "after" it. LazyFS checks
    # "after" faults only for these (unlink only "before", mkdir and chmod
    # never; a symlink's from/to are not what the trace records).
    "write": "write",
    "create": "create",
    "fsync": "fsync",
    "truncate": "truncate",
    "rename": "rename",
    "link": "link",
}
TWO_PATH_OPS = frozenset({"rename", "link"})  # LazyFS names these by "from" and "to"

Value = str | int | bool | tuple[int, ...]


@dataclass(frozen=True)
class LazyFSFault:
    """A LazyFS `[[injection]]` table that leaves the disk of a state behind.

    `exact` is False when LazyFS can only approximate the state (e.g. the
    page held older pending bytes of another write); `note` says why.
    """

    kind: str  # "torn-op" or "clear-cache"
    fields: tuple[tuple[str, Value], ...]
    exact: bool = True
    note: str = ""

    def toml(self) -> str:
        lines = ["[[injection]]"]
        lines += [f"{key}={_toml_value(value)}" for key, value in self.fields]
        return "\n".join(lines)


def _toml_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    # A JSON string is a valid TOML basic string (same escapes), and it keeps
    # a hostile path from closing the string early.
    return json.dumps(value, ensure_ascii=False)


def write_occurrence(ops: Sequence[OpSummary], seq: int) -> int:
    """Which write to its path (1-based, as LazyFS counts) the write `seq` was."""
    target = ops[seq]
    return sum(1 for o in ops[:seq + 1] if o.op == "write" and o.path == target.path)


def torn_op_fault(ops: Sequence[OpSummary], write: OpSummary, kept_pages: Sequence[int],
                  page_size: int, root: str = DEFAULT_LAZYFS_ROOT, *, exact: bool = True,
                  note: str = "") -> LazyFSFault:
    """LazyFS tears `write` at page boundaries and persists the parts of `kept_pages`."""
    offset, length = write.offset or 0, write.length or 0
    bounds = [offset]
    edge = (offset // page_size + 1) * page_size
    while edge < offset + length:
        bounds.append(edge)
        edge += page_size
    bounds.append(offset + length)
    sizes = tuple(b - a for a, b in itertools.pairwise(bounds))
    first_page = offset // page_size
    persist = tuple(p - first_page + 1 for p in sorted(kept_pages))
    # `parts=N` splits evenly; page-aligned writes use it (the seed report's
    # form), anything else needs the exact part sizes.
    aligned = offset % page_size == 0 and length % page_size == 0
    split: tuple[str, Value] = ("parts", len(sizes)) if aligned else ("parts_bytes", sizes)
    fields = (("type", "torn-op"), ("file", _in_root(root, write.path or "")),
              ("persist", persist), split, ("occurrence", write_occurrence(ops, write.seq)))
    return LazyFSFault("torn-op", fields, exact, note)


def clear_fault(ops: Sequence[OpSummary], point: int, root: str = DEFAULT_LAZYFS_ROOT
                ) -> tuple[LazyFSFault | None, str]:
    """LazyFS drops every pending byte right after op `point`; or why it cannot."""
    if point < 0:
        return None, "LazyFS cannot crash before the first operation"
    op = ops[point]
    name = CLEAR_OPS.get(op.op)
    if name is None or op.path is None:
        return None, f"LazyFS cannot inject a fault after a {op.op}"
    fields: list[tuple[str, Value]] = [("type", "clear-cache"), ("from", _in_root(root, op.path))]
    if name in TWO_PATH_OPS:
        if op.dst is None:
            return None, f"the {op.op} at op #{op.seq} has no destination"
        fields.append(("to", _in_root(root, op.dst)))
    occurrence = sum(1 for o in ops[:point + 1]
                     if o.op == op.op and o.path == op.path and o.dst == op.dst)
    fields += [("timing", "after"), ("op", name), ("occurrence", occurrence), ("crash", True)]
    return LazyFSFault("clear-cache", tuple(fields)), ""


def _in_root(root: str, path: str) -> str:
    return root.rstrip("/") + "/" + path.lstrip("/")
