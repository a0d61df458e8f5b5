"""Budgets, point ranges, order and the dry-run document."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.errors import PowercutError
from powercut.replayer.enumeration import Enumeration, plan
from powercut.replayer.enumeration.dry_run import dry_run
from powercut.replayer.models import get_model
from powercut.replayer.models.base import Choice, Pending
from powercut.trace import Trace, TraceWriter, open_trace


def _many_pages(tmp_path: Path, pages: int = 10) -> Trace:
    path = tmp_path / "b.trace"
    with TraceWriter(path, argv=["t"], workload={}) as w:
        w.append("create", 1, path="f", mode=0o600)
        data = bytes(i % 255 + 1 for i in range(4096 * pages))
        w.append("write", 1, path="f", offset=0, data=data)
        w.append("fsync", 1, path="f", datasync=True)
        w.append("create", 1, path="g", mode=0o600)
        w.append("write", 1, path="g", offset=0, data=b"g" * 4096 * pages)
    return open_trace(path)


def test_budget_switches_to_bounded_strategy_and_says_so(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path)  # 10 pages of f dirty at point 1, 10 of g at point 4
    enumeration = Enumeration(trace, get_model(), max_states=100)
    states = list(enumeration)
    by_seq = {cp.seq: cp for cp in enumeration.crash_points}
    assert by_seq[1].possible == 1024 and by_seq[1].enumerated == 22 and by_seq[1].bounded
    assert not by_seq[2].bounded and by_seq[2].possible == 1
    at_one = [s for s in states if s.point == 1]
    lost = [10 - sum(len(p) for _, p in s.kept) for s in at_one]
    assert lost == [10] + [9] * 10 + [1] * 10 + [0]  # at most 1 kept, then at most 1 lost
    stats = enumeration.stats
    assert (stats.crash_points, stats.bounded_points) == (6, 2)
    assert stats.enumerated == len(states) == 1 + 22 + 1 + 1 + 22 + 1 - 0
    assert stats.possible == 1 + 1024 + 1 + 1 + 1 + 1024
    assert stats.distinct == len({s.key for s in states})
    assert [s.duplicate for s in states].count(False) == stats.distinct


def test_order_is_deterministic_by_size_then_smaller_side(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 3)
    first = [(s.point, s.kept, s.key) for s in Enumeration(trace, get_model())]
    again = [(s.point, s.kept, s.key) for s in Enumeration(trace, get_model())]
    assert first == again
    at_one = [kept for point, kept, _ in first if point == 1]
    # Sizes ascending; within a size lexicographic over the smaller side (past
    # half of the pages kept, that is the lost pages: 0, then 1, then 2 lost).
    assert at_one == [(), (("f", (0,)),), (("f", (1,)),), (("f", (2,)),), (("f", (1, 2)),),
                      (("f", (0, 2)),), (("f", (0, 1)),), (("f", (0, 1, 2)),)]


def test_points_restrict_and_must_exist(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 2)
    enumeration = Enumeration(trace, get_model(), points=range(3, 5))
    assert {s.point for s in enumeration} == {3, 4}
    assert [cp.seq for cp in enumeration.crash_points] == [3, 4]
    assert [cp.seq for cp in Enumeration(trace, get_model(), points={-1}).crash_points] == []
    only_first = Enumeration(trace, get_model(), points={-1})
    assert [s.point for s in only_first] == [-1]
    with pytest.raises(PowercutError, match="crash point 5 does not exist"):
        Enumeration(trace, get_model(), points=[5])
    with pytest.raises(PowercutError, match="at least 2"):
        Enumeration(trace, get_model(), max_states=1)


def test_dedup_across_points_and_keys_ignore_how_a_state_was_reached(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 1)
    states = list(Enumeration(trace, get_model()))
    # After the fsync (point 2) the tree equals point 1 with everything kept.
    at = {(s.point, s.kept): s for s in states}
    assert at[(2, ())].key == at[(1, (("f", (0,)),))].key
    assert at[(2, ())].duplicate and not at[(1, (("f", (0,)),))].duplicate


def test_images_pickle_for_worker_processes(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 2)
    state = [s for s in Enumeration(trace, get_model()) if s.point == 4][-1]
    copy = pickle.loads(pickle.dumps(state))
    assert copy == state
    assert [dict(e.pages) for e in copy.image.entries] == [
        dict(e.pages) for e in state.image.entries]


def test_dry_run_document(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 3)
    doc = dry_run(trace, get_model(), max_states=4)
    json.dumps(doc)  # plain data
    counts = doc["counts"]
    assert counts["crash_points"] == 6
    assert counts["possible_states"] == 1 + 1 + 8 + 1 + 1 + 8
    assert counts["states_enumerated"] == len(doc["states"]) == 1 + 1 + 2 + 1 + 1 + 2
    assert counts["bounded_points"] == 2
    assert math.isclose(counts["coverage"], 8 / 20)
    assert doc["states"][2] == {"point": 1, "kept": {}, "key": doc["states"][2]["key"],
                                "duplicate": True}
    assert doc["states"][3]["kept"] == {"f": [0, 1, 2]}
    assert dry_run(trace, get_model(), max_states=None, points=[1])["counts"][
        "states_enumerated"] == 8


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 14), max_states=st.integers(2, 5000))
def test_plan_is_the_largest_bounded_k_without_repeats(n: int, max_states: int) -> None:
    p = plan(n, max_states)
    kept_sets = [c.kept() for c in p.subsets()]
    assert len(kept_sets) == len(set(kept_sets)) == p.count <= max(max_states, 2)
    if 2 ** n <= max_states:
        assert p.exhaustive and p.count == 2 ** n
        return
    k = max(s for s in p.sizes if s <= n // 2)
    assert all(len(kept) <= k or n - len(kept) <= k for kept in kept_sets)
    bigger = {*range(k + 2), *range(n - k - 1, n + 1)}
    assert sum(math.comb(n, s) for s in bigger) > max_states  # k + 1 would not fit


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_naming_the_lost_side_gives_the_same_state(tmp_path: Path, data) -> None:
    path = tmp_path / "c.trace"
    with TraceWriter(path, argv=["t"], workload={}) as w:
        for name in ("a", "b"):
            w.append("create", 1, path=name, mode=0o600)
            w.append("write", 1, path=name, offset=100, data=b"x" * 5 * 4096)
            w.append("fsync", 1, path=name, datasync=True)
            w.append("write", 1, path=name, offset=3000, data=b"y" * 3 * 4096)
        w.append("link", 1, src="b", dst="c")
    trace = open_trace(path)
    pending = next(iter(get_model().crash_points(trace, lambda s: s == trace.op_count - 1)))
    n = len(pending.units)
    kept = tuple(sorted(data.draw(st.sets(st.integers(0, n - 1)))))
    lost = tuple(i for i in range(n) if i not in kept)
    by_kept, by_lost = Choice(n, kept), Choice(n, lost, lost=True)
    assert by_lost.kept() == kept
    assert pending.key(by_kept) == pending.key(by_lost)
    assert pending.kept(by_kept) == pending.kept(by_lost)
    assert pending.kept(by_kept) == Pending.kept(pending, by_kept)  # the generic form
