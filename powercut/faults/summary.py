"""A sweep's summary: causes folded across its runs, the reactions counted, `summary.json`.

`powercut-faults/1`, the file a sweep leaves next to its traces:

    {"kind": "powercut-faults", "version": 1, "workload": str,
     "fault": {"call", "path", "errno", "errno_name"},   # what each run failed (its N varies)
     "candidates": int, "seconds": float, "executor": str, "workers": int,
     "interrupted": bool, "reactions": {kind: count}, "states": int, "checked": int,
     "causes": [{"id", "kind", "verdict", "barrier", "summary", "missing": [key],
                 "faults": [N]}],                     # folded by id across the runs
     "clean": run, "runs": [run]}

A `run` is `FaultRun.to_json()`: its `fault` (`fsync@3`), `trace`,
`status`, `reaction` (`{"kind", "failed", "call", "in_flight",
"acknowledged", "printed", "said", "text"}`; `said` is the line of what it
printed that names the error), the states it enumerated and checked, its
`causes` and `lost` keys, its times and its JSON `report`. Pure, but for
writing the file.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powercut.faults.job import FaultRun
from powercut.faults.sweep import Sweep

KIND = "powercut-faults"
VERSION = 1


@dataclass
class FoldedCause:
    """One root cause, with every fault run it was found in."""

    id: str
    kind: str
    verdict: str
    barrier: str
    summary: str
    missing: list[str] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "verdict": self.verdict,
                "barrier": self.barrier, "summary": self.summary, "missing": self.missing,
                "faults": self.faults}


def fold(runs: list[FaultRun]) -> list[FoldedCause]:
    """The runs' causes by id, in the order first found; `fsync-failure` ones first."""
    found: dict[str, FoldedCause] = {}
    for run in runs:
        for c in run.causes:
            folded = found.get(c["id"])
            if folded is None:
                folded = found[c["id"]] = FoldedCause(c["id"], c["kind"], c["verdict"],
                                                      c["barrier"], c["summary"])
            folded.faults.append(run.index)
            folded.missing += [k for k in c.get("missing", ()) if k not in folded.missing]
    return sorted(found.values(), key=lambda c: c.kind != "fsync-failure")


def reactions(runs: list[FaultRun]) -> Counter[str]:
    return Counter(r.reaction.kind if r.reaction else "error" for r in runs)


def to_json(sweep: Sweep) -> dict[str, Any]:
    t = sweep.template
    return {
        "kind": KIND, "version": VERSION, "workload": sweep.workload,
        "fault": {"call": t.call, "path": t.glob, "errno": t.errno, "errno_name": t.errno_name},
        "candidates": sweep.candidates, "seconds": round(sweep.seconds, 1),
        "executor": sweep.executor, "workers": sweep.workers, "interrupted": sweep.interrupted,
        "reactions": dict(reactions(sweep.runs)),
        "states": sum(r.states for r in sweep.runs),
        "checked": sum(r.checked for r in sweep.runs),
        "causes": [c.to_json() for c in fold(sweep.runs)],
        "clean": sweep.clean.to_json(), "runs": [r.to_json() for r in sweep.runs],
    }


def write(path: Path, sweep: Sweep) -> None:
    """`summary.json`, whole or not at all."""
    partial = path.with_name(f".{path.name}.part")
    partial.write_text(json.dumps(to_json(sweep), indent=1, ensure_ascii=False) + "\n")
    partial.replace(path)
