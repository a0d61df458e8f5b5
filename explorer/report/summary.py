"""What every report says first: the counts, the coverage, the plan, the causes found.

Pure functions over an `Exploration`; the terminal, HTML and JSON reports
all show the same numbers under the same names.
"""

from __future__ import annotations

from typing import Any

from powercut.explorer.analysis import FINDINGS
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


def failing(exploration: Exploration) -> int:
    """Enumerated states judged failing (unrecoverable, data-loss or hang)."""
    return sum(exploration.verdicts.get(kind, 0) for kind in FINDINGS)


def result(exploration: Exploration) -> tuple[str, str]:
    """The result line every report shows, and its tone ("fail", "warn" or "ok").

    Never "no root cause found" while a failing verdict exists: an
    exploration whose failing states were not analysed says so, and how to
    finish it.
    """
    analysis = exploration.analysis
    causes = len(analysis.causes)
    bad = failing(exploration)
    if not analysis.analysed:
        how = {"interrupted": "run the same command with --resume",
               "paused": "free some space and run the same command with --resume"}.get(
            analysis.why_not, "explore with the analysis on")
        states = f"{bad} failing state{'s' if bad != 1 else ''} judged"
        return f"NOT ANALYSED ({analysis.why_not}): {states}; {how}", "fail" if bad else "warn"
    if causes:
        return f"{causes} root cause{'s' if causes > 1 else ''} found", "fail"
    if bad:  # cannot happen: every failing state goes to a cause or an unexplained group
        return f"{bad} failing states, no root cause named", "fail"
    return "no root cause found", "ok"


def summary_dict(exploration: Exploration) -> dict[str, Any]:
    """The `summary` object (also what the terminal and HTML reports show)."""
    analysis = exploration.analysis
    return {
        "crash_points": len(exploration.crash_points),
        "states_enumerated": exploration.enumerated,
        "states_distinct": exploration.distinct,
        "states_checked": exploration.checked,
        "states_reused": exploration.reused,
        "states_same_tree": exploration.same_tree,
        "verdicts": dict(sorted(exploration.verdicts.items())),
        "coverage": coverage(exploration),
        "causes": len(analysis.causes),
        "failing": failing(exploration),
        "analysed": analysis.analysed,
        "not_analysed": analysis.why_not,  # "" when analysed
        "result": result(exploration)[0],
        "errors": sum(e.count for e in analysis.errors),
        "minimisation": {"checks": analysis.checks, "cause_budget": analysis.cause_budget},
        "elapsed_s": round(exploration.elapsed, 3),
        "workers": exploration.workers,
        "interrupted": exploration.interrupted,
    }
