"""`fsync_failures`: a hypothesis strategy over crash states after one of a workload's fsyncs fails.

    @settings(deadline=None, max_examples=20)
    @given(case=fsync_failures("command", command=["python3", "app.py", "{mnt}"]))
    def test_no_acknowledged_write_is_lost_when_fsync_fails(case):
        assert check(case, check_cmd="python3 check.py {dir} {markers}").verdict == "ok", case

A case is drawn as which call fails (`fsync@N`, N over the calls a clean
run of the workload made, shrinking toward the first), then a crash state
from the failed call on, as `crash_states` draws one (shrinking toward the
failed call and fewer lost units). Each fault's run is recorded once and
kept with the clean run (`record`), so a session records each fault it
draws once; a run in which the fault did not fire (the program made fewer
calls that time) is not drawn from. The case is a `CrashCase` of the fault's
trace: its repr is the `powercut replay` command that rebuilds it, and
`check` judges it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from powercut.faultplan import Fault
from powercut.faults import candidates
from powercut.testing.cases import CrashCase, crash_states
from powercut.testing.runs import record
from powercut.trace import Trace


def fsync_failures(workload: str, *, command: Sequence[str] = (), fail: str = "fsync",
                   errno: str = "EIO", model: str = "lazyfs",
                   cache_dir: Path | str | None = None, timeout: float = 60.0,
                   **options: Any) -> st.SearchStrategy[CrashCase]:
    """Crash states of `workload` after one of its `fail` calls (`fsync`, `fdatasync:GLOB`,
    `write`...) failed with `errno`, under `model`. `options` are the workload's, as
    `record` takes them. Nothing is recorded until the first case is drawn."""
    template = Fault.parse(fail, errno)
    if "@" in fail:
        raise ValueError(f"fsync_failures: fail={fail!r} names one call; every matching "
                         "call is drawn from, so give CALL[:GLOB] without @N")
    runs: dict[int, tuple[Trace, st.SearchStrategy[CrashCase] | None]] = {}
    count: list[int] = []

    def run(n: int) -> tuple[Trace, st.SearchStrategy[CrashCase] | None]:
        if n not in runs:
            spec = replace(template, nth=n).spec
            trace = record(workload, command=command, cache_dir=cache_dir, timeout=timeout,
                           fail=spec, errno=errno, **options)
            failed = next((op.seq for op in trace.ops() if op.failed), None)
            states = None if failed is None else crash_states(
                trace, model, points=range(failed, trace.op_count))
            runs[n] = (trace, states)
        return runs[n]

    @st.composite
    def draw_case(draw: Any) -> CrashCase:
        if not count:
            clean = record(workload, command=command, cache_dir=cache_dir, timeout=timeout,
                           **options)
            count.append(candidates(clean, template))
            if not count[0]:
                raise ValueError(f"fsync_failures: the workload makes no call that "
                                 f"{fail!r} matches")
        _, states = run(draw(st.integers(1, count[0])))
        assume(states is not None)  # the fault did not fire in that run
        assert states is not None
        return draw(states)

    return draw_case()
