"""The lazyfs persistence model, rule by rule, and the model registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from powercut.errors import PowercutError
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.image import Entry, Image
from powercut.replayer.models import MODELS, Pending, PersistenceModel, get_model
from powercut.replayer.models.lazyfs.model import LazyFSModel
from powercut.replayer.pages import read_pages
from powercut.replayer.replay import state_at
from powercut.replayer.space import Cut, Space
from powercut.replayer.state import Unit
from powercut.trace import Trace, TraceWriter, open_trace


def _trace(tmp_path: Path, ops: list[tuple[str, dict]], initial=None) -> Trace:
    path = tmp_path / "m.trace"
    with TraceWriter(path, argv=["t"], workload={}, initial=initial) as w:
        for name, fields in ops:
            w.append(name, 1, **fields)
    return open_trace(path)


def _file(trace: Trace, point: int, keep, path: str = "f", page_size: int = 4096) -> bytes:
    """File `path` at `point` keeping the pages `keep` ({path: pages}) names, or "all"."""
    specs = None if keep == "all" else [f"{p}:{page}" for p, pages in keep.items()
                                        for page in pages]
    state = state_at(trace, get_model("lazyfs", page_size), point, keep=specs)
    entry = next(e for e in state.image.entries if e.path == path)
    return read_pages(entry.pages, entry.size, page_size)


def _pending(trace: Trace, point: int, page_size: int = 4096) -> Pending:
    model = get_model("lazyfs", page_size)
    return next(iter(model.crash_points(trace, lambda s: s == point)))


def test_registry_and_parameters() -> None:
    assert isinstance(get_model(), LazyFSModel)
    assert MODELS["lazyfs"] is LazyFSModel
    assert get_model("lazyfs", 8192).page_size == 8192
    with pytest.raises(PowercutError, match="unknown persistence model 'ext5'"):
        get_model("ext5")
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
    entries = {e.path: e for e in pending.image(frozenset()).entries}
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
    with pytest.raises(PowercutError, match=r"f:0 is not a pending unit at crash point 6; "
                                            r"pending there: g:0-1"):
        state_at(trace, get_model(), 6, keep=["f:0"])
    # A hard link's other name names the same units.
    assert state_at(trace, get_model(), 6, lost=["h:1"]).name.lost == ("g:1",)


def test_orphan_writes_change_nothing(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [
        ("create", {"path": "f", "mode": 0o600}),
        ("unlink", {"path": "f"}),
        ("write", {"path": "f", "offset": 0, "data": b"gone", "orphan": True}),
        ("fsync", {"path": "f", "datasync": True, "orphan": True}),
    ])
    assert _pending(trace, 3).units == ()
    assert _pending(trace, 3).image(frozenset()).entries == ()


class _OrderedOps(PersistenceModel):
    """A toy model with namespace units: a journal of three, durable as a prefix."""

    name = "toy"
    summary = "three pending renames, durable in order"

    def crash_points(self, trace, wanted=None):
        class _P(Pending):
            point = 0
            units = tuple(Unit.op(i, f"d{i}") for i in range(3))
            space = Space(3, (Cut((0, 1, 2), (), (), ()),))

            def key(self, lost) -> str:
                return ",".join(str(i) for i in range(3) if i not in lost)

            def image(self, lost) -> Image:
                return Image(4096, tuple(Entry(f"d{i}", "dir", 0o755)
                                         for i in range(3) if i not in lost))

        yield _P()


def test_enumerator_combines_any_units_under_constraints(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [("mkdir", {"path": "x", "mode": 0o755})])
    enumeration = Enumeration(trace, _OrderedOps(), points=[0])
    keys = [s.key for s in enumeration]
    assert keys == ["0,1,2", "0,1", "0", ""]  # a prefix, never 1 without 0
    assert enumeration.crash_points[0].legal == 4
    assert [s.name.lost for s in enumeration][1] == ("#2",)
    bounded = Enumeration(trace, _OrderedOps(), strategy="systematic", budget=2, points=[0])
    assert [s.key for s in bounded] == ["0,1,2", ""]  # all kept, then all lost
    assert (bounded.crash_points[0].enumerated, bounded.crash_points[0].legal) == (2, 4)
