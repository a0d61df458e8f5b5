"""`powercut explore --emit-tests DIR`: one pytest file per root cause, pinning it as a regression.

A fix usually makes a failing state *unreachable* rather than recoverable,
so replaying the old state proves nothing: each emitted test records the
workload again (its target, options and command, from the trace header)
and explores the cause's own crash points with the budget that found it,
under the first model it was found under, and fails while a cause with the
same id is still found. Its docstring names the missing barrier. An emitted file holds no
absolute path of this machine: the Python that recorded is `sys.executable`
again, programs on PATH go by their names, and paths under the current
directory are written relative to the test file.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from powercut import targets
from powercut.explorer.analysis.cause import RootCause
from powercut.trace import Trace

TEMPLATE = '''"""Regression test for root cause {id} ({kind}, {verdict}).

Found by powercut in {trace}: {summary}

Missing barrier: {barrier}

It records the workload again and explores it: it fails while the cause is there, and passes
once the program no longer leaves a state that breaks this way.
"""

import sys
from pathlib import Path

from powercut.testing import check_cause, record

HERE = Path(__file__).resolve().parent
WORKLOAD = {workload!r}
COMMAND = {command}
OPTIONS = {options}
CHECKER = {checker!r}
CHECK_OPTIONS = {check_options}
MODEL = {model!r}
POINTS = range({first}, {last} + 1)  # the crash points it was found at
BUDGET = {budget!r}  # the budget that found it


def test_{slug}_is_gone(tmp_path: Path) -> None:
    trace = record(WORKLOAD, command=COMMAND, cache_dir=tmp_path, **OPTIONS)
    cause = check_cause(trace, {id!r}, checker=CHECKER, model=MODEL, points=POINTS,
                        budget=BUDGET, **CHECK_OPTIONS)
    assert cause is None, f"root cause {id} is still there: {{cause.barrier}}"
'''


def portable(word: str, emit_dir: Path) -> str:
    """A Python expression for one command word that holds no absolute path of this machine."""
    if word == sys.executable or os.path.realpath(word) == os.path.realpath(sys.executable):
        return "sys.executable"
    if os.path.isabs(word):
        real = Path(word).resolve()
        cwd = Path.cwd().resolve()
        if real.is_relative_to(cwd):
            rel = os.path.relpath(real, emit_dir.resolve())
            return f"str(HERE / {rel!r})"
        found = shutil.which(real.name)
        if found is not None and Path(found).resolve() == real:
            return repr(real.name)
    return repr(word)


def portable_command(words: Sequence[str], emit_dir: Path) -> str:
    return "[" + ", ".join(portable(w, emit_dir) for w in words) + "]"


def portable_shell(command: str, emit_dir: Path) -> str:
    """A `--check-cmd` string as a Python expression (its words made portable)."""
    parts = [portable(w, emit_dir) for w in shlex.split(command)]
    return "' '.join([" + ", ".join(parts) + "])"


def emit(directory: Path | str, trace: Trace, causes: list[RootCause], *, checker: str,
         check_cmd: str | None, budget: int | None) -> list[Path]:
    """Write one test file per cause into `directory` (made if missing); return them."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    header = dict(trace.workload)
    name = str(header.get("name") or "command")
    command = [str(w) for w in header.get("argv") or []] if name == "command" else []
    options = targets.for_workload(name).record_options(header)
    check_options = "{}"
    if check_cmd is not None:
        check_options = "{'check_cmd': " + portable_shell(check_cmd, target) + "}"
    written = []
    for cause in causes:
        path = target / f"test_powercut_{cause.id}.py"
        path.write_text(TEMPLATE.format(
            id=cause.id, kind=cause.kind, verdict=cause.verdict, trace=Path(trace.path).name,
            summary=cause.summary, barrier=cause.barrier, workload=name,
            command=portable_command(command, target), options=repr(options),
            checker=checker, check_options=check_options, model=cause.models[0],
            first=cause.first_point, last=cause.last_point, budget=budget,
            slug=cause.id.lower()))
        written.append(path)
    return written
