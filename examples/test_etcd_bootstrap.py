"""Crash tests with hypothesis on etcd's bootstrap: the seed bug (etcd-io/etcd#16596), found and
shrunk.

The strategy draws crash states around the 16 KiB first write of
`member/snap/db` (op #8 of the committed trace) and each example starts
the real etcd (so `deadline=None`). etcd 3.5.1 cannot recover from a torn
write there: hypothesis finds such a state and shrinks it to one or two
lost pages; `repr` of the failing example is the `powercut replay` command
that rebuilds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import find, given, settings

from powercut.replayer.state import unfold_ids
from powercut.testing import CrashCase, check, crash_states

TRACE = Path(__file__).resolve().parent.parent / "traces" / "etcd-3.5-bootstrap.trace"
AROUND_THE_DB_WRITE = range(7, 10)


@pytest.mark.etcd
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="etcd 3.5.1 cannot open a torn first db write (etcd-io/etcd#16596)")
@settings(deadline=None, database=None)
@given(crash_states(TRACE, points=AROUND_THE_DB_WRITE))
def test_etcd_bootstrap_survives_a_power_cut(state: CrashCase) -> None:
    assert check(state).verdict == "ok", state


@pytest.mark.etcd
def test_hypothesis_finds_and_shrinks_the_torn_db_write() -> None:
    tried: list[CrashCase] = []

    def fails(state: CrashCase) -> bool:
        tried.append(state)
        return check(state).verdict != "ok"

    found = find(crash_states(TRACE, points=AROUND_THE_DB_WRITE), fails,
                 settings=settings(deadline=None, database=None, max_examples=100))
    lost = unfold_ids(found.name.lost)
    assert found.point == 8
    assert 1 <= len(lost) <= 2 and all(u.startswith("data.etcd/member/snap/db:") for u in lost)
    print(f"shrunk to {found!r} after {len(tried)} examples")
