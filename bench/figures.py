"""A measured figure, its target and its verdict, and how the suite prints them.

Every sub-bench returns `Figure`s; this module only formats them: one line
per figure as soon as it is measured, and the final table. It must never
measure anything or decide a target itself.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}


@dataclass(frozen=True)
class Target:
    """`value <op> bound`, e.g. Target("<=", 1.25)."""

    op: str
    bound: float

    def met(self, value: float) -> bool:
        return _OPS[self.op](value, self.bound)

    def describe(self, unit: str) -> str:
        return f"{self.op} {_number(self.bound)}{unit}"


@dataclass(frozen=True)
class Figure:
    """One measured value; `target` None means it is shown for context only."""

    bench: str  # the sub-bench that measured it, e.g. "1 explore"
    name: str
    value: float
    unit: str = ""
    target: Target | None = None
    detail: str = ""  # how it was obtained: the operands, counts, reps

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "info"}[self.passed]

    @property
    def shown(self) -> str:
        return f"{_number(self.value)}{self.unit}"

    @property
    def goal(self) -> str:
        return "-" if self.target is None else self.target.describe(self.unit)

    def line(self) -> str:
        detail = f"  ({self.detail})" if self.detail else ""
        return (f"[{self.verdict}] {self.bench}: {self.name} = {self.shown}, "
                f"target {self.goal}{detail}")


def _number(x: float) -> str:
    if x == int(x) and abs(x) >= 10:
        return str(int(x))
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def table(figures: Sequence[Figure]) -> str:
    """All figures as an aligned text table (plain text: it goes to logs and reports)."""
    head = ("bench", "figure", "measured", "target", "result")
    rows = [(f.bench, f.name, f.shown, f.goal, f.verdict) for f in figures]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    sep = "  "
    out = [sep.join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
           sep.join("-" * w for w in widths)]
    out += [sep.join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in out)
