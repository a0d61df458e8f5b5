"""What a test calls: record a workload once, check a crash state, look for a root cause.

`record` keeps each recorded trace in a cache directory under a key made of
the workload's name, options and command (and powercut's version), so a
test session records a workload once and later sessions reuse it.
`check` judges one `CrashCase` with a checker (a name, as on the command
line, or a `Checker`) in a temporary directory it removes. `check_cause`
explores a trace and returns the root cause with a given id if it is
still there: what an emitted regression test asserts is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut import __version__, targets
from powercut.errors import PowercutError
from powercut.explorer.analysis.cause import RootCause
from powercut.explorer.checkers import Checker
from powercut.explorer.run.drive import explore
from powercut.explorer.run.pool import check_state
from powercut.explorer.store.cache import default_cache_dir
from powercut.explorer.verdict import Verdict
from powercut.faultplan import Fault
from powercut.recorder.record import record as record_trace
from powercut.testing.cases import CrashCase
from powercut.trace import Trace, open_trace


def _checker(trace: Trace, checker: str | Checker | None, options: Mapping[str, Any],
             timeout: float | None) -> tuple[Checker, bool]:
    """The checker to use, and whether this call made it (and must close it)."""
    if isinstance(checker, Checker):
        if timeout is not None:
            checker.timeout = timeout
        return checker, False
    name = checker
    if name is None:
        if options.get("check_cmd"):
            name = "command"
        else:
            name = targets.for_workload(str(trace.workload.get("name", ""))).checker_for(trace)
    target = targets.for_checker(name)
    made = target.checker(name, trace, dict(options), timeout=timeout or 10.0)
    return made, True


def check(case: CrashCase, checker: str | Checker | None = None, *, timeout: float | None = None,
          **options: Any) -> Verdict:
    """The verdict of `checker` on the crash state `case` (default: the trace's own checker).

    `options` are the checker's options as the command line names them (`check_cmd`, a
    target's binary...).
    """
    chosen, made = _checker(case.trace, checker, options, timeout)
    work = Path(tempfile.mkdtemp(prefix="powercut-case-"))
    try:
        verdict = check_state(chosen, case.state, list(case.markers), work / "state")
        assert verdict is not None  # never stopped
        return verdict
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if made:
            chosen.close()


def record(workload: str, *, command: Sequence[str] = (), cache_dir: Path | str | None = None,
           timeout: float = 60.0, fail: str | None = None, errno: str = "EIO",
           **options: Any) -> Trace:
    """The trace of `workload` (a name as `powercut record --workload` takes), recorded once
    per name, options and command, and kept in `cache_dir` (default: the results cache's
    directory, under `traces/`). `fail` fails one call as `powercut record --fail` does
    (`fsync@3`); the program may then stop short (`workload-failed`), which is its
    reaction, not an error."""
    fault = Fault.parse(fail, errno) if fail is not None else None
    key = hashlib.sha256(json.dumps([__version__, workload, list(command), sorted(
        (k, str(v)) for k, v in options.items()), fault and fault.describe()]).encode()
                         ).hexdigest()[:24]
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "traces"
    directory.mkdir(parents=True, exist_ok=True)
    named = "" if fault is None else "-" + "".join(
        c if c.isalnum() or c in "@-" else "_" for c in fault.spec)
    path = directory / f"{workload}{named}-{key}.trace"
    if path.exists():
        try:
            return open_trace(path)
        except PowercutError:
            path.unlink()  # a trace cut short by a crash: record it again
    chosen = targets.for_workload(workload).workload(workload, options, tuple(command))
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        result = record_trace(partial, chosen, timeout=timeout, argv=["powercut.testing"],
                              fault=fault)
        if result.status != "complete" and not (fault and result.status == "workload-failed"):
            raise PowercutError(f"recording {workload} did not complete: {result.detail}")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return open_trace(path)


def check_cause(trace: Trace | Path | str, cause: str, *, checker: str | Checker | None = None,
                model: str = "lazyfs", budget: int | None = 500, timeout: float | None = None,
                **options: Any) -> RootCause | None:
    """The root cause `cause` (its id) if exploring `trace` still finds it, else None."""
    opened = trace if isinstance(trace, Trace) else open_trace(trace)
    chosen, made = _checker(opened, checker, options, timeout)
    try:
        with explore(opened, chosen, model, budget=budget) as exploration:
            return next((c for c in exploration.causes if c.id == cause), None)
    finally:
        if made:
            chosen.close()
