"""What an enumeration covered, in plain data: per crash point, per class, and overall.

Shared by the dry-run document and every report, so they use the same keys
and the same words (EXHAUSTIVE, BOUNDED, PARTIAL). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from powercut.replayer.enumeration.plan import Plan
from powercut.replayer.state import CrashPoint


def share(enumerated: int, legal: int) -> float:
    """enumerated / legal as a float, exact for any size of integers (0 <= share <= 1)."""
    return 1.0 if legal == 0 else enumerated / legal


def point_dict(cp: CrashPoint) -> dict[str, Any]:
    return {"point": cp.point, "units": cp.units, "legal": cp.legal,
            "enumerated": cp.enumerated, "exhaustive": cp.exhaustive,
            "classes": {c.name: {"size": c.size, "enumerated": c.enumerated}
                        for c in cp.classes}}


def coverage_dict(points: Sequence[CrashPoint], plan: Plan | None, *,
                  missing: Iterable[int] = (), interrupted: bool = False) -> dict[str, Any]:
    """The `coverage` object of the dry-run document and the report."""
    legal = sum(cp.legal for cp in points)
    enumerated = sum(cp.enumerated for cp in points)
    classes: dict[str, dict[str, int]] = {}
    for cp in points:
        for c in cp.classes:
            entry = classes.setdefault(c.name, {"size": 0, "enumerated": 0, "points": 0,
                                                "complete_points": 0})
            entry["size"] += c.size
            entry["enumerated"] += c.enumerated
            entry["points"] += 1
            entry["complete_points"] += c.complete
    missing = list(missing)
    bounded = sum(1 for cp in points if not cp.exhaustive)
    return {
        "exhaustive": bounded == 0 and not missing and not interrupted,
        "strategy": plan.strategy if plan else "exhaustive",
        "plan": plan.describe() if plan else "",
        "budget": plan.budget if plan else None,
        "crash_points": len(points),
        "exhaustive_points": len(points) - bounded,
        "bounded_points": bounded,
        "missing_points": len(missing),
        "legal": legal,
        "enumerated": enumerated,
        "share": share(enumerated, legal),
        "classes": classes,
    }


def coverage_notes(coverage: dict[str, Any], *, interrupted: bool = False,
                   missing: str = "") -> list[str]:
    """The coverage in plain sentences; the first word is EXHAUSTIVE, PARTIAL or BOUNDED."""
    notes = []
    if interrupted:
        notes.append("PARTIAL: the exploration was interrupted; the report covers the states "
                     "judged before it stopped")
    if missing:
        notes.append(f"PARTIAL: {missing}")
    if coverage["bounded_points"]:
        parts = ", ".join(f"{name} {c['enumerated']}/{_num(c['size'])}"
                          for name, c in coverage["classes"].items() if name != "exhaustive")
        notes.append(
            f"BOUNDED: {coverage['bounded_points']} of {coverage['crash_points']} crash points "
            f"had more legal states than their share; {coverage['enumerated']} of "
            f"{_num(coverage['legal'])} legal states enumerated ({_pct(coverage['share'])}); "
            f"classes enumerated/size: {parts} — {coverage['plan']}")
    if not notes:
        notes.append(f"EXHAUSTIVE: all {coverage['legal']} legal states of every crash point")
    return notes


def _num(n: int) -> str:
    return str(n) if n < 10**9 else f"~{n:.3g}".replace("e+", "e")


def _pct(x: float) -> str:
    if x >= 0.001:
        return f"{100 * x:.1f}%"
    return f"{100 * x:.2g}%"
