"""State names: units folded into ranges, the same from ids or from units, and back again."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.replayer.models import get_model
from powercut.replayer.state import StateName, Unit, fold_ids, fold_units, unfold_ids
from tests.test_models_weak import PS, ops, trace_of

page_units = st.builds(lambda path, page: Unit(path, page, (page,)),
                       st.sampled_from(["db", "a:b", "d/x", "#1"]), st.integers(0, 40))
op_units = st.builds(lambda seq, piece: Unit.op(seq, "f", piece),
                     st.integers(0, 500), st.sampled_from(["", "name", "size"]))


@given(st.lists(st.one_of(page_units, op_units), max_size=30))
def test_folding_units_is_folding_their_ids_and_unfolds_back(units: list[Unit]) -> None:
    folded = fold_units(units)
    assert folded == fold_ids(u.id for u in units)
    assert set(unfold_ids(folded)) == {u.id for u in units}
    assert StateName.of_units(3, units) == StateName.of(3, [u.id for u in units])


def test_pages_fold_into_ranges_and_ops_follow_in_order() -> None:
    units = [Unit("db", p, (p,)) for p in (7, 0, 1, 2, 3)] + \
        [Unit.op(12, "x", "name"), Unit.op(9, "y")]
    assert fold_units(units) == ["db:0-3,7", "#9", "#12.name"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=ops(), data=st.data())
def test_lazyfs_names_its_states_as_the_units_fold(tmp_path: Path, operations,  # type: ignore[no-untyped-def]
                                                    data: st.DataObject) -> None:
    trace = trace_of(tmp_path, operations, "t.trace")
    for pending in get_model("lazyfs", PS).crash_points(trace):
        n = len(pending.units)
        lost = frozenset(data.draw(st.sets(st.integers(0, n - 1))) if n else ())
        assert pending.name(lost) == StateName.of_units(pending.point,
                                                       (pending.units[i] for i in lost))
