"""The JSON report (`powercut explore --json FILE`), schema `powercut-report/1`.

Turns an `Exploration` and its vulnerabilities into plain JSON values and
writes them. The schema below is a public contract: a key that changes
meaning or disappears needs a new schema version; new keys may be added
within a version (readers ignore keys they do not know). This module never
runs anything and never reads state directories; it only writes the one
file it is given.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from powercut.explorer.analysis.vulnerability import Vulnerability
from powercut.explorer.report.files import write_text_atomic
from powercut.explorer.report.timeline import point_ranges
from powercut.explorer.verdict import Exploration, OpSummary

SCHEMA = "powercut-report/1"


def summary_dict(exploration: Exploration) -> dict[str, Any]:
    """The `summary` object (also what the terminal and HTML reports show)."""
    points = exploration.crash_points
    verdicts = Counter(j.verdict.kind for j in exploration.judged)
    bounded = sum(1 for cp in points if cp.bounded)
    return {
        "crash_points": len(points),
        "states_enumerated": exploration.enumerated,
        "states_distinct": exploration.distinct,
        "states_checked": exploration.checked,
        "states_reused": exploration.reused,
        "verdicts": dict(sorted(verdicts.items())),
        "coverage": {
            "exhaustive": bounded == 0
            and not exploration.interrupted
            and not missing_points(exploration),
            "bounded_points": bounded,
            "possible": sum(cp.possible for cp in points),
            "enumerated": sum(cp.enumerated for cp in points),
        },
        "elapsed_s": round(exploration.elapsed, 3),
        "workers": exploration.workers,
        "interrupted": exploration.interrupted,
    }


def missing_points(exploration: Exploration) -> list[int]:
    """Crash points of the trace that were not explored (e.g. left out by --points)."""
    last = max((op.seq for op in exploration.ops), default=-1)
    explored = {cp.seq for cp in exploration.crash_points}
    return [p for p in range(-1, last + 1) if p not in explored]


def coverage_notes(exploration: Exploration) -> list[str]:
    """The coverage in plain sentences; the first word is EXHAUSTIVE, PARTIAL or BOUNDED."""
    cov = summary_dict(exploration)["coverage"]
    notes = []
    if exploration.interrupted:
        notes.append(
            f"PARTIAL: the exploration was interrupted; {exploration.enumerated} "
            "states judged before it stopped"
        )
    missing = missing_points(exploration)
    if missing:
        explored = point_ranges(cp.seq for cp in exploration.crash_points) or "none"
        last = max((op.seq for op in exploration.ops), default=-1)
        notes.append(f"PARTIAL: only crash points {explored} of -1..{last} were explored")
    if cov["bounded_points"]:
        notes.append(
            f"BOUNDED: {cov['bounded_points']} crash point(s) had more states than "
            f"--max-states; {cov['enumerated']} of {cov['possible']} possible states "
            "enumerated (all subsets of at most k lost or k kept pages there)"
        )
    if not notes:
        notes.append(f"EXHAUSTIVE: all {cov['possible']} states of every crash point")
    return notes


def _op_dict(op: OpSummary | None) -> dict[str, Any] | None:
    if op is None:
        return None
    return {"seq": op.seq, "path": op.path, "offset": op.offset, "length": op.length}


def vulnerability_dict(v: Vulnerability) -> dict[str, Any]:
    return {
        "kind": v.kind,
        "op": _op_dict(v.op),
        "failing": v.failing,
        "total": v.total,
        "signatures": [
            {"signature": s.signature, "count": s.count, "excerpt": s.excerpt} for s in v.signatures
        ],
        "failing_subsets": [list(s) for s in v.failing_subsets],
        "passing_subsets": [list(s) for s in v.passing_subsets],
        "points": list(v.points),
        "reproducer": {
            "replay": v.replay,
            "lazyfs": v.lazyfs.toml() if v.lazyfs is not None else None,
        },
        "summary": v.summary,
        "missing": list(v.missing),
        "members": list(v.members),
    }


def to_json_dict(exploration: Exploration, vulns: list[Vulnerability]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "trace": exploration.trace,
        "model": exploration.model,
        "page_size": exploration.page_size,
        "checker": exploration.checker,
        "summary": summary_dict(exploration),
        "states": [
            {
                "point": j.state.point,
                "kept": {path: list(pages) for path, pages in j.state.kept},
                "key": j.state.key,
                "verdict": j.verdict.kind,
                "signature": j.verdict.signature,
            }
            for j in exploration.judged
        ],
        "vulnerabilities": [vulnerability_dict(v) for v in vulns],
    }


def write_json(
    path: str | os.PathLike[str], exploration: Exploration, vulns: list[Vulnerability]
) -> None:
    data = json.dumps(to_json_dict(exploration, vulns), indent=1, ensure_ascii=False)
    write_text_atomic(path, data + "\n", "JSON report")
