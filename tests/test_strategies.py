"""Strategies, budgets and coverage: what an enumeration picks, and that it says so honestly."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.errors import PowercutError
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.enumeration.classes import classes, members
from powercut.replayer.enumeration.dry_run import write_dry_run
from powercut.replayer.enumeration.plan import water_level
from powercut.replayer.models import get_model
from powercut.replayer.replay import named_state, pending_at
from powercut.trace import Trace, TraceWriter, open_trace
from tests.brute import brute_force


def _many_pages(tmp_path: Path, pages: int = 10, name: str = "b.trace") -> Trace:
    path = tmp_path / name
    with TraceWriter(path, argv=["t"], workload={}) as w:
        w.append("create", 1, path="f", mode=0o600)
        data = bytes(i % 255 + 1 for i in range(4096 * pages))
        w.append("write", 1, path="f", offset=0, data=data)
        w.append("fsync", 1, path="f", datasync=True)
        w.append("create", 1, path="g", mode=0o600)
        w.append("write", 1, path="g", offset=0, data=b"g" * 4096 * pages)
    return open_trace(path)


def test_water_level_is_the_largest_share_that_fits() -> None:
    assert water_level([1, 1, 1024, 1024], 2100) is None  # everything fits
    share = water_level([1, 1, 1024, 1024], 100)
    assert share == 49  # 1 + 1 + 49 + 49 = 100
    assert water_level([5] * 10, 3) == 1  # below one state a point: each keeps one


def test_auto_is_exhaustive_where_it_fits_then_systematic_then_random(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path)  # 10 pages of f pending at point 1, 10 of g at point 4
    enumeration = Enumeration(trace, get_model(), budget=100)
    states = list(enumeration)
    plan = enumeration.plan
    assert plan is not None and plan.share == 48  # 4 points of one state, 2 of 1024
    at = {cp.point: cp for cp in enumeration.crash_points}
    assert at[1].legal == 1024 and not at[1].exhaustive
    assert at[2].exhaustive and at[2].legal == 1
    names = [c.name for c in at[1].classes]
    assert names[:6] == ["all-kept", "all-lost", "one-lost", "torn-write", "one-kept", "pair"]
    sizes = {c.name: c.size for c in at[1].classes}
    assert sizes["one-lost"] == 10 and sizes["torn-write"] == 4 * 10 - 2
    # The random phase fills what dedup left of the budget: 100 distinct, no more.
    assert enumeration.stats.distinct == 100
    assert "random" in names
    kinds = {s.class_ for s in states}
    assert {"exhaustive", "all-kept", "one-lost", "random"} <= kinds
    assert enumeration.stats.enumerated == len(states)
    assert sum(cp.enumerated for cp in enumeration.crash_points) == len(states)


def test_systematic_and_random_and_exhaustive_strategies(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 4)
    full = {s.key for s in Enumeration(trace, get_model(), strategy="exhaustive")}
    systematic = Enumeration(trace, get_model(), strategy="systematic", budget=40)
    picked = {s.key for s in systematic}
    assert picked <= full
    assert {s.class_ for s in systematic} - {"all-kept", "all-lost", "one-lost", "torn-write",
                                           "one-kept", "pair"} == set()
    first = [s.name for s in Enumeration(trace, get_model(), strategy="random", budget=20,
                                         seed=3)]
    again = [s.name for s in Enumeration(trace, get_model(), strategy="random", budget=20,
                                         seed=3)]
    other = [s.name for s in Enumeration(trace, get_model(), strategy="random", budget=20,
                                         seed=4)]
    assert first == again and first != other


def test_max_states_caps_an_exhaustive_exploration(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path)
    enumeration = Enumeration(trace, get_model(), strategy="exhaustive", max_states=30)
    list(enumeration)
    at = {cp.point: cp for cp in enumeration.crash_points}
    assert at[1].enumerated <= 30 and not at[1].exhaustive
    assert enumeration.stats.bounded_points == 2


def test_points_restrict_and_must_exist(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 2)
    enumeration = Enumeration(trace, get_model(), points=range(3, 5))
    assert {s.point for s in enumeration} == {3, 4}
    assert [cp.point for cp in enumeration.crash_points] == [3, 4]
    only_first = Enumeration(trace, get_model(), points={-1})
    assert [s.point for s in only_first] == [-1]
    with pytest.raises(PowercutError, match="crash point 5 does not exist"):
        Enumeration(trace, get_model(), points=[5])
    with pytest.raises(PowercutError, match="at least 2"):
        Enumeration(trace, get_model(), max_states=1)
    with pytest.raises(PowercutError, match="--budget"):
        Enumeration(trace, get_model(), budget=0)


def test_dedup_across_points_and_keys_ignore_how_a_state_was_reached(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 1)
    states = list(Enumeration(trace, get_model()))
    at = {(s.point, s.name.lost): s for s in states}
    # After the fsync (point 2) the tree equals point 1 with everything kept.
    assert at[(2, ())].key == at[(1, ())].key
    assert at[(2, ())].duplicate and not at[(1, ())].duplicate


def test_images_pickle_for_worker_processes(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 2)
    state = [s for s in Enumeration(trace, get_model()) if s.point == 4][-1]
    copy = pickle.loads(pickle.dumps(state))
    assert copy == state
    assert [dict(e.pages) for e in copy.image.entries] == [
        dict(e.pages) for e in state.image.entries]


def test_dry_run_document_streams_and_adds_up(tmp_path: Path) -> None:
    trace = _many_pages(tmp_path, 3)
    out = io.StringIO()
    summary = write_dry_run(Enumeration(trace, get_model(), strategy="exhaustive",
                                        max_states=4), out)
    doc = json.loads(out.getvalue())
    assert (doc["kind"], doc["version"]) == ("powercut-dry-run", 2)
    assert doc["summary"] == summary
    assert summary["crash_points"] == 6
    assert summary["coverage"]["legal"] == 1 + 1 + 8 + 1 + 1 + 8
    assert summary["states_enumerated"] == len(doc["states"]) == 1 + 1 + 4 + 1 + 1 + 4
    assert summary["coverage"]["bounded_points"] == 2
    assert summary["coverage"]["enumerated"] == len(doc["states"])
    assert sum(c["enumerated"] for c in summary["coverage"]["classes"].values()) == \
        len(doc["states"])
    assert doc["states"][0] == {"point": -1, "lost": [], "key": doc["states"][0]["key"],
                                "duplicate": False, "class": "exhaustive"}
    assert [cp["point"] for cp in doc["crash_points"]] == list(range(-1, 5))


_SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(budget=st.integers(1, 60), strategy=st.sampled_from(["auto", "systematic", "random"]),
       pages=st.integers(1, 6))
def test_every_state_is_legal_named_and_within_budget(tmp_path: Path, budget: int,
                                                      strategy: str, pages: int) -> None:
    trace = _many_pages(tmp_path, pages, f"p{pages}.trace")
    model = get_model()
    enumeration = Enumeration(trace, model, strategy=strategy, budget=budget)
    states = list(enumeration)
    plan = enumeration.plan
    assert plan is not None
    floor = len(enumeration.crash_points)  # each point keeps at least its all-kept state
    assert enumeration.stats.distinct <= max(budget, floor) or plan.raised
    by_point: dict[int, object] = {}
    for state in states:
        pending = by_point.get(state.point) or pending_at(trace, model, state.point)
        by_point[state.point] = pending
        assert pending.space.legal(state.lost)  # type: ignore[attr-defined]
        # The name in a report replays to the same content key.
        again = named_state(pending, state.name)  # type: ignore[arg-type]
        assert again.key == state.key.split("+")[0]
    for cp in enumeration.crash_points:
        assert cp.enumerated == sum(c.enumerated for c in cp.classes)
        assert cp.enumerated <= cp.legal


@_SETTINGS
@given(pages=st.integers(1, 5), cap=st.integers(1, 40))
def test_systematic_classes_are_inside_the_exhaustive_set(tmp_path: Path, pages: int,
                                                          cap: int) -> None:
    trace = _many_pages(tmp_path, pages, f"s{pages}.trace")
    pending = pending_at(trace, get_model(), 1)
    legal = brute_force(pending.space)
    for cls in classes(pending):
        found = list(members(pending, cls.name))
        assert len(set(found)) <= cls.size or cls.name == "torn-write"
        assert set(found) <= legal
