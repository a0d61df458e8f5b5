"""The lazyfs persistence model, rule by rule, and the model registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from powercut.errors import PowercutError
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.image import Entry, Image
from powercut.replayer.models import MODELS, Pending, PersistenceModel, get_model
from powercut.replayer.models.base import Choice, Requires
from powercut.replayer.models.lazyfs.model import LazyFSModel
from powercut.replayer.pages import read_pages
from powercut.replayer.replay import state_at
from powercut.replayer.state import Unit
from powercut.trace import Trace, TraceWriter, open_trace


def _trace(tmp_path: Path, ops: list[tuple[str, dict]], initial=None) -> Trace:
    path = tmp_path / "m.trace"
    with TraceWriter(path, argv=["t"], workload={}, initial=initial) as w:
        for name, fields in ops:
            w.append(name, 1, **fields)
    return open_trace(path)


def _file(trace: Trace, point: int, keep, path: str = "f", page_size: int = 4096) -> bytes:
    state = state_at(trace, get_model("lazyfs", page_size), point, keep)
    entry = next(e for e in state.image.entries if e.path == path)
    return read_pages(entry.pages, entry.size, page_size)


def _pending(trace: Trace, point: int, page_size: int = 4096) -> Pending:
    model = get_model("lazyfs", page_size)
    return next(iter(model.crash_points(trace, lambda s: s == point)))


def test_registry_and_parameters() -> None:
    assert isinstance(get_model(), LazyFSModel)
    assert MODELS["lazyfs"] is LazyFSModel
    assert get_model("lazyfs", 8192).page_size == 8192
    with pytest.raises(PowercutError, match="unknown persistence model 'ext4'"):
        get_model("ext4")
    with pytest.raises(PowercutError, match="power of two"):
        get_model("lazyfs", 1000)
    assert issubclass(LazyFSModel, PersistenceModel)
    with pytest.raises(TypeError):
        PersistenceModel()  # type: ignore[abstract]


def test_16k_write_is_four_pages_or_two_with_8k_pages(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [("create", {"path": "f", "mode": 0o600}),
                              ("write", {"path": "f", "offset": 0, "data": b"x" * 16384})])
    units = _pending(trace, 1).units
    assert [(u.path, u.page, u.writes) for u in units] == [("f", p, (1,)) for p in range(4)]
    assert len(_pending(trace, 1, 8192).units) == 2
    assert _file(trace, 1, {"f": [1]}, page_size=8192) == bytes(8192) + b"x" * 8192


def test_kept_page_past_durable_end_extends_to_last_byte_written(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [
        ("create", {"path": "f", "mode": 0o600}),
        ("write", {"path": "f", "offset": 0, "data": b"a" * 100}),
        ("fsync", {"path": "f", "datasync": True}),
        ("write", {"path": "f", "offset": 4096 + 10, "data": b"b" * 20}),
        ("write", {"path": "f", "offset": 3 * 4096, "data": b"c" * 5}),
        ("write", {"path": "f", "offset": 50, "data": b"d" * 10}),
    ])
    assert _file(trace, 5, {}) == b"a" * 100  # nothing kept: the durable file
    assert _file(trace, 5, {"f": [1]}) == b"a" * 100 + bytes(4006) + b"b" * 20
    assert _file(trace, 5, {"f": [0]}) == b"a" * 50 + b"d" * 10 + b"a" * 40
    assert len(_file(trace, 5, {"f": [3]})) == 3 * 4096 + 5
    assert _file(trace, 5, "all") == _file(trace, 5, {"f": [0, 1, 3]})


def test_namespace_and_size_ops_are_durable_at_once(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [
        ("mkdir", {"path": "d", "mode": 0o700}),
        ("create", {"path": "d/f", "mode": 0o600}),
        ("truncate", {"path": "d/f", "size": 64 << 20}),
        ("rename", {"src": "d", "dst": "e", "flags": 0}),
        ("chmod", {"path": "e/f", "mode": 0o640}),
        ("fallocate", {"path": "e/f", "offset": 0, "length": (64 << 20) + 1, "mode": 0}),
    ])
    pending = _pending(trace, 5)
    assert pending.units == ()
    entries = {e.path: e for e in pending.image(Choice(0, ())).entries}
    assert entries.keys() == {"e", "e/f"}
    assert (entries["e/f"].size, entries["e/f"].mode, len(entries["e/f"].pages)) == (
        (64 << 20) + 1, 0o640, 0)  # sparse: a 64 MB file holds no page


def test_fsync_makes_pages_durable_and_truncate_drops_dirty_pages(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [
        ("create", {"path": "f", "mode": 0o600}),
        ("write", {"path": "f", "offset": 0, "data": b"a" * 9000}),
        ("fsync", {"path": "f", "datasync": False}),
        ("write", {"path": "f", "offset": 0, "data": b"b" * 9000}),
        ("truncate", {"path": "f", "size": 5000}),
        ("link", {"src": "f", "dst": "g"}),
        ("rename", {"src": "f", "dst": "h", "flags": 0}),
    ], initial=[{"path": "z", "kind": "file", "mode": 0o644, "data": b"zz"}])
    assert _pending(trace, 2).units == ()
    units = _pending(trace, 6).units
    assert [(u.path, u.page, u.writes) for u in units] == [("g", 0, (3,)), ("g", 1, (3,))]
    assert _file(trace, 6, {}, "h") == b"a" * 5000
    assert _file(trace, 6, {"h": [1]}, "g") == b"a" * 4096 + b"b" * 904
    with pytest.raises(PowercutError, match=r"f:0 is not a dirty page at crash point 6; "
                                            r"dirty pages there: g: 0,1"):
        state_at(trace, get_model(), 6, {"f": [0]})


def test_orphan_writes_change_nothing(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [
        ("create", {"path": "f", "mode": 0o600}),
        ("unlink", {"path": "f"}),
        ("write", {"path": "f", "offset": 0, "data": b"gone", "orphan": True}),
        ("fsync", {"path": "f", "datasync": True, "orphan": True}),
    ])
    assert _pending(trace, 3).units == ()
    assert _pending(trace, 3).image(Choice(0, ())).entries == ()


class _OrderedOps(PersistenceModel):
    """A toy model with namespace units: unit 1 may persist only after unit 0."""

    name = "toy"
    summary = "three pending renames, the second ordered after the first"

    def crash_points(self, trace, wanted=None):
        class _P(Pending):
            seq = 0
            units = tuple(Unit(f"d{i}", 0, (i,), kind="rename") for i in range(3))
            constraints = (Requires(1, 0),)

            def key(self, choice: Choice) -> str:
                return ",".join(map(str, choice.kept()))

            def image(self, choice: Choice) -> Image:
                return Image(4096, tuple(Entry(f"d{i}", "dir", 0o755) for i in choice.kept()))

        yield _P()


def test_enumerator_combines_any_units_under_constraints(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [("mkdir", {"path": "x", "mode": 0o755})])
    enumeration = Enumeration(trace, _OrderedOps(), points=[0])
    keys = [s.key for s in enumeration]
    assert keys == ["", "0", "2", "0,2", "0,1", "0,1,2"]  # never 1 without 0
    assert enumeration.crash_points[0].possible == 6
    bounded = Enumeration(trace, _OrderedOps(), max_states=4, points=[0])
    assert [s.key for s in bounded] == ["", "0,1,2"]  # k=0: all lost, all kept
    assert (bounded.crash_points[0].enumerated, bounded.crash_points[0].possible) == (2, 6)
    assert [s.kept for s in bounded][-1] == (("d0", (0,)), ("d1", (0,)), ("d2", (0,)))
