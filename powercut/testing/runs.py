"""What a test calls: record a workload once, check a crash state, look for a root cause.

`record` keeps each recorded trace in a cache directory under a key made of
the workload's name, options and command (and powercut's version), so a
test session records a workload once and later sessions reuse it.
`check` judges one `CrashCase` with a checker (a name, as on the command
line, or a `Checker`) in a temporary directory it removes. `check_cause`
explores a trace and returns the root cause with a given id if it is
still there: what an emitted regression test asserts is gone. Both go
through the same `powercut.session.Session` as `powercut explore`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from powercut import __version__, targets
from powercut.errors import PowercutError
from powercut.explorer.analysis.cause import RootCause
from powercut.explorer.checkers import Checker
from powercut.explorer.store.cache import default_cache_dir
from powercut.explorer.verdict import Verdict
from powercut.faultplan import Fault
from powercut.recorder.record import record as record_trace
from powercut.session import Session
from powercut.testing.cases import CrashCase
from powercut.trace import Trace, open_trace


def check(case: CrashCase, checker: str | Checker | None = None, *, timeout: float | None = None,
          **options: Any) -> Verdict:
    """The verdict of `checker` on the crash state `case` (default: the trace's own checker).

    `options` are the checker's options by their keyword (`check_cmd`, a target's binary...).
    """
    session = Session.open(case.trace, checker=checker, options=options, timeout=timeout,
                           models=case.model.name, page_size=case.model.page_size)
    work = Path(tempfile.mkdtemp(prefix="powercut-case-"))
    try:
        with session:
            return session.check(case.state, list(case.markers), work / "state")
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
                model: str = "lazyfs", budget: int | None = None,
                points: Collection[int] | None = None, timeout: float | None = None,
                **options: Any) -> RootCause | None:
    """The root cause `cause` (its id) if exploring `trace` still finds it, else None.

    `budget` defaults to the one `powercut explore` would use (the target's
    own); `points` (those of the trace past its end left out) restricts the
    crash points, as an emitted test does to the points its cause was found at.
    """
    opened = trace if isinstance(trace, Trace) else open_trace(trace)
    if points is not None:
        points = [p for p in points if -1 <= p < opened.op_count] or None
    session = Session.open(opened, checker=checker, options=options, timeout=timeout,
                           models=model, budget=budget, points=points)
    with session, session.explore() as found:
        return next((c for c in found.causes if c.id == cause), None)
