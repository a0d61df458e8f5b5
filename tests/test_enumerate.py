"""The enumerator's laws, on random traces, against a byte-level brute-force oracle.

The oracle below is written independently of the fast path: it keeps each
file as plain bytearrays (latest and durable) plus {page: high} for dirty
pages, and for every subset of dirty pages builds the file byte by byte.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.replayer.enumeration import Enumeration
from powercut.replayer.image import Image
from powercut.replayer.models import get_model
from powercut.replayer.pages import read_pages
from powercut.replayer.replay import pending_at
from powercut.replayer.state import CrashState, unfold_ids
from powercut.replayer.tree import Tree, snapshot
from powercut.trace import Op, Trace, TraceWriter, open_trace

PS = 512  # small pages keep the subsets few while every op still spans pages
NAMES = ("a", "b", "d/c", "d/e", "d2/c", "d2/f")

Tree_ = dict[str, tuple[str, int, bytes]]


# --------------------------------------------------------------------------- random traces


@st.composite
def trace_ops(draw: st.DrawFn) -> list[tuple[str, dict]]:
    """A valid op list over a few names: the generator tracks what exists."""
    kinds: dict[str, str] = {"d": "dir", "a": "file"}
    inos: dict[str, int] = {"a": 0}  # hard links share one; a rename onto itself does nothing
    ops: list[tuple[str, dict]] = []
    writes = 0

    def files() -> list[str]:
        return sorted(p for p, k in kinds.items() if k == "file")

    for _ in range(draw(st.integers(1, 14))):
        choice = draw(st.sampled_from(
            ["create", "write", "write", "write", "truncate", "fsync", "rename", "link",
             "unlink", "fallocate", "dir"]))
        present = files()
        if choice == "create" or not present:
            free = [n for n in NAMES if n not in kinds and
                    ("/" not in n or kinds.get(n.split("/")[0]) == "dir")]
            if not free:
                continue
            name = draw(st.sampled_from(free))
            kinds[name] = "file"
            inos[name] = len(ops) + 1
            ops.append(("create", {"path": name, "mode": draw(st.sampled_from([0o600, 0o644]))}))
            continue
        path = draw(st.sampled_from(present))
        if choice == "write":
            offset = draw(st.integers(0, 4 * PS))
            length = draw(st.integers(0, 2 * PS + 10))
            writes += 1
            data = bytes((writes * 37 + i * 11) % 251 + 1 for i in range(length))
            ops.append(("write", {"path": path, "offset": offset, "data": data}))
        elif choice == "truncate":
            ops.append(("truncate", {"path": path, "size": draw(st.integers(0, 5 * PS))}))
        elif choice == "fsync":
            ops.append(("fsync", {"path": path, "datasync": draw(st.booleans())}))
        elif choice == "fallocate":
            mode = draw(st.sampled_from([0, 1, 3]))
            ops.append(("fallocate", {"path": path, "offset": draw(st.integers(0, 3 * PS)),
                                      "length": draw(st.integers(1, 2 * PS)), "mode": mode}))
        elif choice in ("rename", "link"):
            targets = [n for n in NAMES if ("/" not in n or kinds.get(n.split("/")[0]) == "dir")
                       and kinds.get(n) in (None, "file") and n != path]
            if choice == "link":
                targets = [n for n in targets if n not in kinds]
            if not targets:
                continue
            dst = draw(st.sampled_from(targets))
            if choice == "rename" and inos.get(dst) == inos[path]:
                ops.append(("rename", {"src": path, "dst": dst, "flags": 0}))
                continue
            kinds[dst] = "file"
            inos[dst] = inos[path]
            if choice == "rename":
                del kinds[path]
                del inos[path]
                ops.append(("rename", {"src": path, "dst": dst, "flags": 0}))
            else:
                ops.append(("link", {"src": path, "dst": dst}))
        elif choice == "unlink":
            del kinds[path]
            del inos[path]
            ops.append(("unlink", {"path": path}))
        elif choice == "dir":
            src, dst = ("d", "d2") if "d" in kinds else ("d2", "d")
            if src not in kinds:
                continue
            for p in sorted(kinds):
                if p == src or p.startswith(src + "/"):
                    kinds[dst + p[len(src):]] = kinds.pop(p)
                    if p in inos:
                        inos[dst + p[len(src):]] = inos.pop(p)
            ops.append(("rename", {"src": src, "dst": dst, "flags": 0}))
    return ops


def write_trace(path: Path, ops: list[tuple[str, dict]]) -> Trace:
    initial = [{"path": "d", "kind": "dir", "mode": 0o755},
               {"path": "a", "kind": "file", "mode": 0o644, "data": b"I" * (PS + 7)}]
    with TraceWriter(path, argv=["test"], workload={}, page_size=PS, initial=initial) as w:
        for name, fields in ops:
            w.append(name, 1, **fields)
    return open_trace(path)


# --------------------------------------------------------------------------- the oracle


class _File:
    def __init__(self, data: bytes = b"") -> None:
        self.latest = bytearray(data)
        self.durable = bytearray(data)
        self.dirty: dict[int, int] = {}  # page -> high


def oracle_states(trace: Trace) -> dict[int, list[tuple[frozenset, Tree_]]]:
    """point -> [(lost {(path, page)}, tree)] by brute force over every subset."""
    tree = Tree(trace.initial, PS)  # namespace only: paths, kinds, modes
    files: dict[int, _File] = {}
    for _, node in tree.walk():
        if node.kind == "file":
            assert node.data is not None
            files[node.ino] = _File(node.data.read(node.size))
    out = {-1: _oracle_point(tree, files)}
    for op in trace.ops():
        node = tree.apply(op)
        if node is not None and node.ino not in files:
            files[node.ino] = _File()
        if node is not None:
            _oracle_apply(op, files[node.ino])
        out[op.seq] = _oracle_point(tree, files)
    return out


def _oracle_apply(op: Op, f: _File) -> None:
    if op.op == "write":
        assert op.offset is not None and op.data is not None
        end = op.offset + len(op.data)
        if len(f.latest) < end and op.data:
            f.latest.extend(bytes(end - len(f.latest)))
        f.latest[op.offset:end] = op.data
        for i in range(op.offset, end):
            f.dirty[i // PS] = max(f.dirty.get(i // PS, 0), min(end, (i // PS + 1) * PS))
    elif op.op == "truncate":
        assert op.size is not None
        for buf in (f.latest, f.durable):
            del buf[op.size:]
            buf.extend(bytes(op.size - len(buf)))
        f.dirty = {p: min(h, op.size) for p, h in f.dirty.items() if p * PS < op.size}
    elif op.op == "fallocate":
        assert op.offset is not None and op.length is not None
        for buf in (f.latest, f.durable):
            if op.mode & 2:
                stop = min(op.offset + op.length, len(f.latest))
                buf[op.offset:stop] = bytes(max(0, min(stop, len(buf)) - op.offset))
            if not op.mode & 1 and len(buf) < op.offset + op.length:
                buf.extend(bytes(op.offset + op.length - len(buf)))
    elif op.op == "fsync":
        f.durable = bytearray(f.latest)
        f.dirty = {}


def _oracle_point(tree: Tree, files: dict[int, _File]) -> list[tuple[frozenset, Tree_]]:
    names = snapshot(tree)
    first: dict[int, str] = {}
    for path, node in tree.walk():
        first.setdefault(node.ino, path)
    units = sorted((first[ino], page) for ino, f in files.items() if ino in
                   {n.ino for _, n in tree.walk()} for page in f.dirty)
    results = []
    for r in range(len(units) + 1):
        for kept in itertools.combinations(units, r):
            state = dict(names)
            for path, node in tree.walk():
                if node.kind != "file":
                    continue
                f = files[node.ino]
                mine = [p for q, p in kept if q == first[node.ino]]
                size = max([len(f.durable)] + [f.dirty[p] for p in mine])
                data = bytearray(f.durable[:size].ljust(size, b"\0"))
                for p in mine:
                    lo, hi = p * PS, min((p + 1) * PS, size)
                    data[lo:hi] = f.latest[lo:hi].ljust(hi - lo, b"\0")
                state[path] = ("file", node.mode, bytes(data))
            results.append((frozenset(units) - frozenset(kept), state))
    return results


def image_tree(image: Image) -> Tree_:
    out: Tree_ = {}
    for e in image.entries:
        if e.kind == "file":
            out[e.path] = ("file", e.mode, read_pages(e.pages, e.size, image.page_size))
        else:
            out[e.path] = (e.kind, e.mode, e.target.encode())
    return out


# --------------------------------------------------------------------------- the laws

_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(ops=trace_ops())
def test_fast_path_equals_brute_force_oracle(tmp_path: Path, ops) -> None:
    trace = write_trace(tmp_path / "r.trace", ops)
    expected = oracle_states(trace)
    enumeration = Enumeration(trace, get_model("lazyfs", PS))
    got: dict[int, list[tuple[frozenset, Tree_]]] = {}
    by_key: dict[str, Tree_] = {}
    for state in enumeration:
        tree = image_tree(state.image)
        got.setdefault(state.point, []).append((lost_pages(state), tree))
        assert state.duplicate == (state.key in by_key)
        # Equal keys mean equal trees, hard links included (dedup never merges different
        # trees) ...
        linked = {**tree, **{f"link:{e.path}": ("link", 0, (e.link_to or "").encode())
                             for e in state.image.entries}}
        assert by_key.setdefault(state.key, linked) == linked
    # ... and equal trees mean equal keys.
    assert len(set(map(_freeze, by_key.values()))) == len(by_key)
    assert got.keys() == expected.keys()
    for point, states in expected.items():
        assert sorted(map(_sortable, got[point])) == sorted(map(_sortable, states)), point
    for cp in enumeration.crash_points:
        assert cp.legal == cp.enumerated == 2 ** cp.units == len(expected[cp.point])
        assert cp.exhaustive


def lost_pages(state: CrashState) -> frozenset[tuple[str, int]]:
    return frozenset((uid.rpartition(":")[0], int(uid.rpartition(":")[2]))
                     for uid in unfold_ids(state.name.lost))


def _freeze(tree: Tree_) -> tuple:
    return tuple(sorted(tree.items()))


def _sortable(item: tuple[frozenset, Tree_]) -> tuple:
    return (sorted(item[0]), _freeze(item[1]))


@_SETTINGS
@given(ops=trace_ops())
def test_synced_data_kept_and_no_byte_invented(tmp_path: Path, ops) -> None:
    trace = write_trace(tmp_path / "r.trace", ops)
    written = [op for op in trace.ops() if op.op == "write"]
    latest_at = _latest_trees(trace)
    enumeration = Enumeration(trace, get_model("lazyfs", PS))
    for state in enumeration:
        latest = latest_at[state.point]
        tree = image_tree(state.image)
        assert {p: v[:2] for p, v in tree.items()} == {p: v[:2] for p, v in latest.items()}
        cp_units = {(u.path, u.page) for u in pending_at(trace, enumeration.model,
                                                         state.point).units}
        # Units name a file by its first path; its hard links share them.
        unit_path = {e.path: e.link_to or e.path for e in state.image.entries}
        for path, (kind, _, data) in tree.items():
            if kind != "file":
                continue
            full = latest[path][2]
            assert len(data) <= len(full)
            for i, byte in enumerate(data):
                if (unit_path[path], i // PS) not in cp_units:
                    assert byte == full[i], (path, i)  # not dirty: synced or never written
                elif byte:
                    assert byte == ord("I") or any(
                        w.offset <= i < w.offset + len(w.data) and w.data[i - w.offset] == byte
                        for w in written if w.seq <= state.point), (path, i)


def _latest_trees(trace: Trace) -> dict[int, Tree_]:
    tree = Tree(trace.initial, PS)
    out = {-1: snapshot(tree)}
    for op in trace.ops():
        tree.apply(op)
        out[op.seq] = snapshot(tree)
    return out
