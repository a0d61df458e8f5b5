"""What every report says first: the counts, the coverage, the plan, the causes found.

Pure functions over an `Exploration`; the terminal, HTML and JSON reports
all show the same numbers under the same names.
"""

from __future__ import annotations

from typing import Any

from powercut.explorer.exploration import Exploration
from powercut.explorer.report.timeline import point_ranges
from powercut.replayer.enumeration.coverage import coverage_dict, coverage_notes


def missing_points(exploration: Exploration) -> list[int]:
    """Crash points of the trace that were not explored (e.g. left out by --points)."""
    explored = {cp.point for cp in exploration.crash_points}
    return [p for p in range(-1, len(exploration.ops)) if p not in explored]


def coverage(exploration: Exploration) -> dict[str, Any]:
    return coverage_dict(exploration.crash_points, exploration.plan,
                         missing=missing_points(exploration),
                         interrupted=exploration.interrupted)


def notes(exploration: Exploration) -> list[str]:
    """The coverage in plain sentences; the first word is EXHAUSTIVE, PARTIAL or BOUNDED."""
    missing = ""
    if missing_points(exploration):
        explored = point_ranges(cp.point for cp in exploration.crash_points) or "none"
        missing = (f"only crash points {explored} of -1-{len(exploration.ops) - 1} were "
                   "explored")
    return coverage_notes(coverage(exploration), interrupted=exploration.interrupted,
                          missing=missing)


def summary_dict(exploration: Exploration) -> dict[str, Any]:
    """The `summary` object (also what the terminal and HTML reports show)."""
    analysis = exploration.analysis
    return {
        "crash_points": len(exploration.crash_points),
        "states_enumerated": exploration.enumerated,
        "states_distinct": exploration.distinct,
        "states_checked": exploration.checked,
        "states_reused": exploration.reused,
        "verdicts": dict(sorted(exploration.verdicts.items())),
        "coverage": coverage(exploration),
        "causes": len(analysis.causes),
        "errors": sum(e.count for e in analysis.errors),
        "minimisation": {"checks": analysis.checks, "cause_budget": analysis.cause_budget},
        "elapsed_s": round(exploration.elapsed, 3),
        "workers": exploration.workers,
        "interrupted": exploration.interrupted,
    }
