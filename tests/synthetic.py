"""Synthetic traces and in-process checkers: real explorations of known bugs, in milliseconds.

A test writes a trace op by op (`make_trace`), and judges each crash state
with a plain Python function of the materialised directory and the markers
(`PyChecker`): the real enumerator, materialiser, driver and analysis run,
only the program under test is a function. `etcd_like` is the seed bug in
miniature: a 16 KiB first write of a database that a torn write breaks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from powercut.explorer.checkers import Checker
from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import explore
from powercut.explorer.verdict import Evidence, LostWrite, Verdict
from powercut.trace import Op, Trace, TraceWriter, open_trace

PAGE = 4096
Judge = Callable[[Path, Sequence[Op]], Verdict]
OK = Verdict("ok")


def bad(signature: str, verdict: str = "unrecoverable", **notes: Any) -> Verdict:
    return Verdict(verdict, signature,  # type: ignore[arg-type]
                   exit_status=2 if verdict == "unrecoverable" else None,
                   excerpt=f"{signature}\n  at the synthetic checker",
                   evidence=Evidence(notes=notes))


def make_trace(path: Path, ops: list[tuple[str, dict[str, Any]]],
               initial: list[dict[str, Any]] | None = None,
               workload: dict[str, Any] | None = None) -> Trace:
    with TraceWriter(path, argv=["test"], workload=workload or {"name": "command"},
                     initial=initial) as w:
        for name, fields in ops:
            w.append(name, 1, **fields)
    return open_trace(path)


class PyChecker(Checker):
    """Judges a state with a Python function; reads markers like a marker-aware checker."""

    name = "python"
    uses_markers = True

    def __init__(self, judge: Judge, label: str = "python", timeout: float = 5.0) -> None:
        self.judge = judge
        self.label = label
        self.timeout = timeout

    def describe(self) -> str:
        return f"python: {self.label}"

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        return self.judge(directory, markers)


def run(trace: Trace, judge: Judge, **kw: Any) -> Exploration:
    """Explore `trace` with `judge` (2 workers, no cache) and return the exploration."""
    kw.setdefault("workers", 2)
    return explore(trace, PyChecker(judge), kw.pop("model", "lazyfs"), **kw)


def acked(markers: Sequence[Op]) -> dict[str, str]:
    """Acknowledged key -> value from markers (`{"key", "value"}` fields)."""
    return {str(m.extra["key"]): str(m.extra.get("value")) for m in markers
            if "key" in m.extra and not m.extra.get("intent")}


def loss(missing: list[str]) -> Verdict:
    return Verdict("data-loss", "acknowledged keys missing",
                   evidence=Evidence(missing=tuple(LostWrite(k) for k in missing)))


def marker(key: str, value: str) -> tuple[str, dict[str, Any]]:
    return ("marker", {"text": f"put {key}={value} acknowledged", "key": key, "value": value})


# --------------------------------------------------------------------------- the seed in small

DB = "member/snap/db"
ETCD_PASSING = {(), (0, 1, 2, 3), (0, 1)}


def etcd_like_trace(path: Path) -> Trace:
    data = b"".join(bytes([65 + p]) * PAGE for p in range(4))
    return make_trace(path, [
        ("mkdir", {"path": "member", "mode": 0o700}),
        ("mkdir", {"path": "member/snap", "mode": 0o700}),
        ("create", {"path": DB, "mode": 0o600}),
        ("write", {"path": DB, "offset": 0, "data": data}),
        ("fsync", {"path": DB, "datasync": True}),
    ])


def etcd_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    db = directory / DB
    if not db.exists():
        return OK
    data = db.read_bytes()
    kept = tuple(p for p in range(len(data) // PAGE) if data[p * PAGE] == 65 + p)
    if kept in ETCD_PASSING or not data:
        return OK
    if 0 in kept:
        return bad("panic: freepages: failed to get all reachable pages")
    return bad("invalid database")


def etcd_like(tmp_path: Path, **kw: Any) -> Exploration:
    return run(etcd_like_trace(tmp_path / "etcd.trace"), etcd_judge, **kw)


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
