"""`Replays`: any crash point's pending units, replayed forward from the nearest paused run.

On random traces under every model, asked for points in any order, it
gives what a replay from op 0 gives (`pending_at`); pendings handed out
stay right after their run moved on; points asked for rising replay each
op once.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from powercut.replayer.models import get_model
from powercut.replayer.models.base import Pending
from powercut.replayer.replay import pending_at
from powercut.replayer.replays import Replays
from tests.test_models_weak import _SETTINGS, PS, ops, trace_of

MODELS = ("lazyfs", "ext4-ordered", "alice")


def summary(pending: Pending) -> tuple[object, ...]:
    """What a state of this point is made of: its units, and the keys of its simple states."""
    units = [u.id for u in pending.units]
    singles = [pending.key(frozenset({i})) for i in range(len(units))
               if pending.space.legal(frozenset({i}))]
    return pending.point, units, pending.key(frozenset()), singles


@_SETTINGS
@given(operations=ops(), model=st.sampled_from(MODELS), data=st.data())
def test_any_order_gives_what_a_replay_from_the_start_gives(
        tmp_path: Path, operations, model: str, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    trace = trace_of(tmp_path, operations, "t.trace")
    m = get_model(model, PS)
    points = data.draw(st.lists(st.integers(-1, trace.op_count - 1), min_size=1, max_size=12))
    replays = Replays(trace, m, runs=2, keep=2)
    for point in points:
        assert summary(replays.pending(point)) == summary(pending_at(trace, m, point))


@_SETTINGS
@given(operations=ops(), model=st.sampled_from(MODELS))
def test_pendings_stay_right_after_their_run_moves_on(
        tmp_path: Path, operations, model: str) -> None:  # type: ignore[no-untyped-def]
    trace = trace_of(tmp_path, operations, "t.trace")
    m = get_model(model, PS)
    replays = Replays(trace, m, runs=1, keep=1)
    handed = [replays.pending(p) for p in range(-1, trace.op_count)]
    assert [summary(p) for p in handed] == \
        [summary(pending_at(trace, m, p)) for p in range(-1, trace.op_count)]


def test_rising_points_replay_each_op_once_and_a_step_back_starts_one_run(
        tmp_path: Path) -> None:
    operations = [("create", {"path": f"f{i}", "mode": 0o644}) for i in range(30)]
    trace = trace_of(tmp_path, operations, "t.trace")
    replays = Replays(trace, get_model("lazyfs", PS), runs=2, keep=1)
    for point in range(-1, trace.op_count, 3):
        replays.pending(point)
    assert replays.replayed == 29 + 2  # up to the last point asked for, each once
    replays.pending(4)  # behind the only run: a second run starts
    replays.pending(10)  # ahead of it: that run goes on
    assert replays.replayed == 31 + 6 + 6
    replays.pending(20)  # a third run would start; it resumes the second, nearer one
    assert replays.replayed == 31 + 6 + 6 + 10
