"""Crash tests in your own test suite: crash states as a hypothesis strategy, and a checker call.

    from hypothesis import given, settings
    from powercut.testing import check, crash_states

    @settings(deadline=None)
    @given(crash_states("traces/app.trace", points=range(7, 10)))
    def test_app_recovers(state):
        assert check(state, check_cmd="./check-app {dir}").verdict == "ok"

`crash_states` draws a crash point, then which of its pending units were
lost (only states the persistence model allows), and shrinks toward
earlier crash points and fewer lost units, so a failure shrinks to its
culprit; a failing example prints as the `powercut replay` command that
rebuilds it. `check` runs a checker (by name, from the trace's target, or
your own `Checker`) on a state in a temporary directory and returns its
`Verdict`. `record` records a workload once per cache key (its name,
options and command), so a session records it once. `fsync_failures`
draws crash states after one of a workload's fsyncs failed (each fault's
run recorded once), so a suite can assert that no acknowledged write is
lost when fsync fails. The pytest plugin
(`powercut.testing.plugin`, loaded through the `pytest11` entry point)
adds fixtures around these.
"""

from __future__ import annotations

from powercut.testing.cases import CrashCase, crash_states
from powercut.testing.faults import fsync_failures
from powercut.testing.runs import check, check_cause, record

__all__ = ["CrashCase", "check", "check_cause", "crash_states", "fsync_failures", "record"]
