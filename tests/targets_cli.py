"""Record and explore a built-in target through the real command line, as a user would.

`record` runs `powercut record --workload NAME ...` (needs FUSE and the
target's program); `explore` runs `powercut explore TRACE ...` with no
checker option (the trace's header names its checker) and returns the exit
status and the JSON report; `causes` condenses a report's root causes to
what tests assert on; `replayed`, `markers` and `last_in_flight` give a
target's tests a crash state to judge by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from powercut.trace import Op, open_trace


def powercut(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "CI": "true"})


def record(tmp_path: Path, workload: str, *options: str, name: str = "") -> Path:
    """The trace of `powercut record --workload WORKLOAD OPTIONS` (it must complete)."""
    trace = tmp_path / f"{name or workload}.trace"
    done = powercut("record", "--workload", workload, *options, "-o", str(trace))
    assert done.returncode == 0, done.stdout + done.stderr
    return trace


def explore(trace: Path, *options: str) -> tuple[int, dict[str, Any]]:
    """`powercut explore TRACE OPTIONS --no-cache`: its exit status (0 or 1) and JSON report."""
    report = trace.with_suffix(f".{len(options)}.json")
    done = powercut("explore", str(trace), "--no-cache", "--json", str(report), *options)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr
    return done.returncode, json.loads(report.read_text())


def causes(doc: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...], str]]:
    """(kind, verdict, roles, barrier) of each root cause of a JSON report."""
    return [(c["kind"], c["verdict"], tuple(c["roles"]), c["barrier"]) for c in doc["causes"]]


def header_paths(workload: dict[str, Any]) -> list[str]:
    """Values of a header's workload map that are absolute paths of this machine."""
    return [f"{k}={v}" for k, v in workload.items() if isinstance(v, str) and v.startswith("/")]


def replayed(tmp_path: Path, trace: Path, point: int) -> Path:
    """The all-kept crash state at `point` of `trace`, written by `powercut replay`."""
    state = tmp_path / f"state-{point}"
    done = powercut("replay", str(trace), "--point", str(point), "--to", str(state))
    assert done.returncode == 0, done.stderr
    return state


def markers(trace: Path) -> list[Op]:
    return [op for op in open_trace(trace).ops() if op.op == "marker"]


def last_in_flight(trace: Path) -> tuple[Op, Op]:
    """The intent marker of the last acknowledged write, and its acknowledgement."""
    found = markers(trace)
    last = [op for op in found if "intent" not in op.extra][-1]
    intent = next(op for op in found if op.extra.get("intent")
                  and op.extra.get("key") == last.extra["key"])
    return intent, last
