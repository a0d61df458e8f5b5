"""The `ext4-ordered` and `alice` models: their laws on random traces, and the spec's examples.

On random traces of creates, writes, truncates, renames, links, unlinks,
fsyncs and directory fsyncs, some of them failed (`record --fail`): every
model's all-kept state is the latest tree; its legal choices are exactly
what a brute force over every subset allows; no state holds a byte never
written (but `alice`'s documented garbage); and the states nest, `lazyfs` ⊆ `ext4-ordered` (without
auto_da_alloc) ⊆ `alice`, at every crash point, as sets of content keys.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models import get_model
from powercut.replayer.models.alice import AliceModel
from powercut.replayer.models.ext4 import Ext4OrderedModel
from powercut.replayer.models.garbage import ALNUM
from powercut.replayer.pages import read_pages
from powercut.replayer.tree import Tree, snapshot
from powercut.trace import Trace, TraceWriter, open_trace
from tests.brute import brute_force
from tests.synthetic import make_trace

PS = 512
NAMES = ("a", "b", "c", "d/x", "d/y")


@st.composite
def ops(draw: st.DrawFn) -> list[tuple[str, dict]]:
    files: dict[str, int] = {"a": 0}  # name -> inode tag
    dirs = {"d"}
    out: list[tuple[str, dict]] = []
    tag = 1
    for _ in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from(["create", "write", "write", "write", "truncate", "fsync",
                                     "fsync", "fsyncdir", "rename", "link", "unlink",
                                     "chmod", "failed"]))
        free = [n for n in NAMES if n not in files and n.split("/")[0] in dirs | {n}]
        if kind == "create" or not files:
            if not free:
                continue
            name = draw(st.sampled_from(free))
            files[name] = tag
            tag += 1
            out.append(("create", {"path": name, "mode": 0o644}))
            continue
        path = draw(st.sampled_from(sorted(files)))
        if kind == "write":
            offset = draw(st.integers(0, 3 * PS))
            data = bytes([draw(st.integers(1, 200))]) * draw(st.integers(1, PS + 40))
            out.append(("write", {"path": path, "offset": offset, "data": data}))
        elif kind == "truncate":
            out.append(("truncate", {"path": path, "size": draw(st.integers(0, 4 * PS))}))
        elif kind == "fsync":
            out.append(("fsync", {"path": path, "datasync": draw(st.booleans())}))
        elif kind == "failed":  # a call `record --fail` failed: its pages stay clean
            out.append(draw(st.sampled_from([
                ("fsync", {"path": path, "datasync": draw(st.booleans()), "errno": 5}),
                ("write", {"path": path, "offset": 0, "data": b"\xee" * 9, "errno": 28}),
                ("fsyncdir", {"path": "d", "errno": 5})])))
        elif kind == "fsyncdir":
            out.append(("fsyncdir", {"path": "d"}))
        elif kind == "chmod":
            out.append(("chmod", {"path": path, "mode": draw(st.sampled_from([0o600, 0o640]))}))
        elif kind == "unlink":
            del files[path]
            out.append(("unlink", {"path": path}))
        else:
            targets = [n for n in NAMES if n != path and n.split("/")[0] in dirs | {n}]
            if kind == "link":
                targets = [n for n in targets if n not in files]
            if not targets:
                continue
            dst = draw(st.sampled_from(targets))
            if kind == "rename":
                if files.get(dst) == files[path]:
                    continue  # two names of one inode: skipped, to keep the generator simple
                files[dst] = files.pop(path)
                out.append(("rename", {"src": path, "dst": dst, "flags": 0}))
            else:
                files[dst] = files[path]
                out.append(("link", {"src": path, "dst": dst}))
    return out


def trace_of(tmp_path: Path, operations: list[tuple[str, dict]], name: str) -> Trace:
    initial = [{"path": "d", "kind": "dir", "mode": 0o755},
               {"path": "a", "kind": "file", "mode": 0o644, "data": b"\x07" * (PS + 9)}]
    with TraceWriter(tmp_path / name, argv=["t"], workload={}, page_size=PS,
                     initial=initial) as w:
        for op, fields in operations:
            w.append(op, 1, **fields)
    return open_trace(tmp_path / name)


def keys_at(trace: Trace, model) -> dict[int, set[str]]:  # type: ignore[no-untyped-def]
    out: dict[int, set[str]] = {}
    for state in Enumeration(trace, model, strategy="exhaustive"):
        out.setdefault(state.point, set()).add(state.key)
    return out


_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])


@_SETTINGS
@given(operations=ops())
def test_states_nest_lazyfs_ext4_alice(tmp_path: Path, operations) -> None:  # type: ignore[no-untyped-def]
    trace = trace_of(tmp_path, operations, "n.trace")
    lazy = keys_at(trace, get_model("lazyfs", PS))
    ext4_noauto = keys_at(trace, Ext4OrderedModel(PS, auto_da_alloc=False))
    ext4 = keys_at(trace, Ext4OrderedModel(PS))
    alice = keys_at(trace, AliceModel(PS))
    for point in lazy:
        assert lazy[point] <= ext4_noauto[point], point
        assert ext4[point] <= ext4_noauto[point], point
        assert ext4_noauto[point] <= alice[point], point


@_SETTINGS
@given(operations=ops(), model=st.sampled_from(["ext4-ordered", "alice"]))
def test_all_kept_is_the_latest_tree_and_choices_are_exactly_the_legal_ones(
        tmp_path: Path, operations, model: str) -> None:  # type: ignore[no-untyped-def]
    trace = trace_of(tmp_path, operations, "k.trace")
    tree = Tree(trace.initial, PS)
    latest = {-1: snapshot(tree)}
    for op in trace.ops():
        tree.apply(op)
        latest[op.seq] = snapshot(tree)
    chosen = get_model(model, PS)
    for pending in chosen.crash_points(trace):
        image = pending.image(frozenset())
        got = {e.path: (e.kind, e.mode, read_pages(e.pages, e.size, PS) if e.kind == "file"
                        else e.target.encode()) for e in image.entries}
        assert got == latest[pending.point], pending.point
        if len(pending.units) <= 10:
            legal = brute_force(pending.space)
            assert set(pending.space.choices()) == legal
            assert pending.space.count() == len(legal)


@_SETTINGS
@given(operations=ops(), model=st.sampled_from(["lazyfs", "ext4-ordered", "alice"]))
def test_no_byte_that_was_never_written(tmp_path: Path, operations, model: str) -> None:  # type: ignore[no-untyped-def]
    trace = trace_of(tmp_path, operations, "b.trace")
    written = {0, 7} | {f["data"][0] for name, f in operations if name == "write"}
    garbage = set(ALNUM) if model == "alice" else set()
    for state in Enumeration(trace, get_model(model, PS), strategy="auto", budget=200):
        for e in state.image.build().entries:
            if e.kind == "file":
                assert set(read_pages(e.pages, e.size, PS)) <= written | garbage


def test_example_fsynced_file_without_directory_fsync(tmp_path: Path) -> None:
    """create f, write, fsync f, marker: the name is durable under ext4 (the fsync commits
    the journal), not under alice (only an fsync of the directory makes it durable)."""
    trace = make_trace(tmp_path / "a.trace", [
        ("create", {"path": "f", "mode": 0o600}),
        ("write", {"path": "f", "offset": 0, "data": b"hello"}),
        ("fsync", {"path": "f", "datasync": False}),
        ("marker", {"text": "ack"})])
    counts = {m: len(keys_at(trace, get_model(m))[3]) for m in ("lazyfs", "ext4-ordered",
                                                                "alice")}
    assert counts == {"lazyfs": 1, "ext4-ordered": 1, "alice": 2}


def _replace(tmp_path: Path, name: str, dir_fsync: bool) -> Trace:
    initial = [{"path": "d", "kind": "dir", "mode": 0o755},
               {"path": "d/cfg", "kind": "file", "mode": 0o644, "data": b"old"}]
    ops: list[tuple[str, dict]] = [
        ("create", {"path": "d/tmp", "mode": 0o600}),
        ("write", {"path": "d/tmp", "offset": 0, "data": b"new"}),
        ("fsync", {"path": "d/tmp", "datasync": False}),
        ("rename", {"src": "d/tmp", "dst": "d/cfg", "flags": 0})]
    if dir_fsync:
        ops.append(("fsyncdir", {"path": "d"}))
    return make_trace(tmp_path / name, [*ops, ("marker", {"text": "ack"})], initial=initial)


def test_example_rename_over_config_without_directory_fsync(tmp_path: Path) -> None:
    trace = _replace(tmp_path, "b.trace", dir_fsync=False)
    counts = {m: len(keys_at(trace, get_model(m))[4]) for m in ("lazyfs", "ext4-ordered",
                                                                "alice")}
    assert counts == {"lazyfs": 1, "ext4-ordered": 2, "alice": 6}
    # With the directory fsynced before the marker, every model keeps the rename.
    synced = _replace(tmp_path, "c.trace", dir_fsync=True)
    for m in ("lazyfs", "ext4-ordered", "alice"):
        assert len(keys_at(synced, get_model(m))[5]) == 1, m


def test_auto_da_alloc_rules_out_the_empty_replaced_file(tmp_path: Path) -> None:
    initial = [{"path": "cfg", "kind": "file", "mode": 0o644, "data": b"old"}]
    trace = make_trace(tmp_path / "c.trace", [
        ("create", {"path": "tmp", "mode": 0o600}),
        ("write", {"path": "tmp", "offset": 0, "data": b"new"}),
        ("rename", {"src": "tmp", "dst": "cfg", "flags": 0})], initial=initial)
    assert len(keys_at(trace, get_model("lazyfs"))[2]) == 2  # new, or empty
    assert len(keys_at(trace, Ext4OrderedModel(auto_da_alloc=True))[2]) == 4
    assert len(keys_at(trace, Ext4OrderedModel(auto_da_alloc=False))[2]) == 5


@given(start=st.integers(0, 5 * PS), length=st.integers(1, 5 * PS),
       before=st.binary(min_size=0, max_size=3 * PS))
def test_a_garbage_fill_is_the_garbage_bytes_whole_pages_or_not(start: int, length: int,
                                                                 before: bytes) -> None:
    """Whole pages go in at once with shared hashes; the bytes and the key are as if each
    byte were written."""
    from powercut.replayer.models.effects import Fill, Namespace, New
    from powercut.replayer.models.garbage import garbage_page
    from powercut.replayer.pages import PageStore

    ns = Namespace(PS)
    ns.apply(New(7, "file", 0o644))
    ns.inode(7).data.write(0, before)  # type: ignore[union-attr]
    ns.inode(7).size = len(before)
    ns.apply(Fill(7, start, start + length, garbage=3))
    expected = bytearray(before.ljust(start + length, b"\0"))
    for pos in range(start, start + length):
        expected[pos] = garbage_page(3, pos // PS, PS)[pos % PS]
    data = ns.inode(7).data
    assert data is not None and data.read(len(expected)) == bytes(expected)
    plain = PageStore(PS)
    plain.write(0, bytes(expected))
    assert data.hash_sum == plain.hash_sum


@_SETTINGS
@given(operations=ops())
def test_skipping_garbage_that_zeros_overwrite_changes_no_state(tmp_path: Path, operations
                                                                ) -> None:  # type: ignore[no-untyped-def]
    """A replay drops an extending truncate's garbage when its zeros are kept too: every state
    reads and hashes as if each effect had been applied."""
    trace = trace_of(tmp_path, operations, "g.trace")
    for pending in AliceModel(PS).crash_points(trace):
        for lost in pending.space.choices():
            ns = pending._base.copy()  # type: ignore[attr-defined]
            for i in pending._order:  # type: ignore[attr-defined]
                if i not in lost:
                    for effect in pending._effects[i]:  # type: ignore[attr-defined]
                        ns.apply(effect)
            every = ns.image()[0]
            fast = pending._namespace(lost).image()[0]  # type: ignore[attr-defined]
            assert [(e.path, e.size, read_pages(e.pages, e.size, PS)) for e in fast.entries] \
                == [(e.path, e.size, read_pages(e.pages, e.size, PS)) for e in every.entries]
