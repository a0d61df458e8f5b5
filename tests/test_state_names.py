"""State names: units folded into ranges, the same from ids or from units, and back again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from powercut.replayer.state import StateName, Unit, fold_ids, fold_units, unfold_ids

page_units = st.builds(lambda path, page: Unit(path, page, (page,)),
                       st.sampled_from(["db", "a:b", "d/x", "#1"]), st.integers(0, 40))
op_units = st.builds(lambda seq, piece: Unit.op("create", seq, "f", piece),
                     st.integers(0, 500), st.sampled_from(["", "name", "size"]))


@given(st.lists(st.one_of(page_units, op_units), max_size=30))
def test_folding_units_is_folding_their_ids_and_unfolds_back(units: list[Unit]) -> None:
    folded = fold_units(units)
    assert folded == fold_ids(u.id for u in units)
    assert set(unfold_ids(folded)) == {u.id for u in units}
    assert StateName.of_units(3, units) == StateName.of(3, [u.id for u in units])


def test_pages_fold_into_ranges_and_ops_follow_in_order() -> None:
    units = [Unit("db", p, (p,)) for p in (7, 0, 1, 2, 3)] + \
        [Unit.op("rename", 12, "x", "name"), Unit.op("create", 9, "y")]
    assert fold_units(units) == ["db:0-3,7", "#9", "#12.name"]
