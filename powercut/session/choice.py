"""Which checker judges a trace, and with what budget: chosen in one place for every door.

The command line and `powercut.testing` both ask here, so a trace is
judged the same way from both. The trace's header names the workload it
was recorded with, and that workload's target names its checker; a
`--check-cmd` means the `command` checker. A trace whose header says its
crash states need more than a directory (a kernel file system's image, to
be attached and mounted first) has the target's checker wrapped by the
engine (`on_kernel`): `choose_checker` is where that happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut import targets
from powercut.errors import PowercutError
from powercut.explorer.checkers import DEFAULT_TIMEOUT, Checker
from powercut.explorer.checkers.kernel import on_kernel
from powercut.replayer.enumeration import DEFAULT_BUDGET
from powercut.trace import Trace


def checker_name(trace: Trace, options: Mapping[str, Any]) -> str:
    """The checker of a trace when none is named: `command` with a check command, else the
    one the target of the trace's workload names."""
    if options.get("check_cmd") is not None:
        return "command"
    recorded = str(trace.workload.get("name") or "")
    try:
        return targets.for_workload(recorded).checker_for(trace)
    except PowercutError:
        raise PowercutError(f"the trace was recorded with workload {recorded!r}, which no "
                            "target judges; pass --checker NAME (or --check-cmd)") from None


def choose_checker(trace: Trace, checker: str | Checker | None = None,
                   options: Mapping[str, Any] | None = None, *, timeout: float | None = None,
                   fsck: bool = False) -> Checker:
    """The checker for `trace`: a `Checker` as given (its timeout replaced when one is
    given), or the checker of that name (default: the trace's own) from its target, with the
    target's options (by their keyword, e.g. `check_cmd`); run on the kernel's recovery of
    each crash image when the trace was recorded on a kernel file system (with `fsck`, the
    file system's own check as evidence)."""
    if isinstance(checker, Checker):
        if timeout is not None:
            checker.timeout = timeout
        return on_kernel(checker, trace, fsck=fsck)
    values = dict(options or {})
    name = checker or checker_name(trace, values)
    made = targets.for_checker(name).checker(name, trace, values,
                                             timeout=timeout or DEFAULT_TIMEOUT)
    return on_kernel(made, trace, fsck=fsck)


def default_budget(trace: Trace) -> int:
    """The budget when none is given: the trace's target's own, else the engine's."""
    try:
        target = targets.for_workload(str(trace.workload.get("name") or ""))
    except PowercutError:
        return DEFAULT_BUDGET
    return target.default_budget or DEFAULT_BUDGET
