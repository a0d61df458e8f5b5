"""Crash tests in a project's own test suite: the kvstore example (README, "Crash tests in your
own test suite").

The workload is recorded once (`powercut.testing.record`), hypothesis draws
its crash states (`crash_states`) and the project's own checker judges each
(`check`). Before the fix (`kvstore.py` acknowledges before it fsyncs)
hypothesis finds a state that lost an acknowledged put and shrinks it to
the one lost page: the test fails, as a regression test must while the bug
is there. After the fix (`--fsync`) every state recovers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powercut.testing import check, crash_states, record

HERE = Path(__file__).resolve().parent
CHECK = f"{sys.executable} {HERE / 'check_kvstore.py'} {{dir}} {{markers}}"


def kvstore(*, fixed: bool):  # type: ignore[no-untyped-def]
    """The trace of three acknowledged puts (recorded once, then taken from the cache)."""
    command = [sys.executable, str(HERE / "kvstore.py"), "{mnt}", "workload"]
    return record("command", command=[*command, "--fsync"] if fixed else command)


@pytest.mark.fuse
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="before the fix kvstore acknowledges a put before it is durable")
@settings(deadline=None, max_examples=60, database=None)
@given(data=st.data())
def test_every_acknowledged_put_survives_before_the_fix(data: st.DataObject) -> None:
    state = data.draw(crash_states(kvstore(fixed=False)))
    assert check(state, check_cmd=CHECK).verdict == "ok", state


@pytest.mark.fuse
@settings(deadline=None, max_examples=60, database=None)
@given(data=st.data())
def test_every_acknowledged_put_survives_after_the_fix(data: st.DataObject) -> None:
    state = data.draw(crash_states(kvstore(fixed=True)))
    assert check(state, check_cmd=CHECK).verdict == "ok", state
