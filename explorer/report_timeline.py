"""What the reports show of the trace: a collapsed timeline and compact notations.

Pure helpers shared by the terminal and HTML reports: which ops to show
(those around failing crash points and every sync barrier, with long quiet
runs folded into "… 37 ops …"), page maps like `▮▯▯▮`, and crash-point
ranges like `3, 5..9`. They never print and never style: each report draws
the rows its own way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from powercut.explorer.verdict import Exploration, OpSummary
from powercut.explorer.vulnerability import Vulnerability, describe_op

BARRIERS = frozenset({"fsync", "fdatasync", "fsyncdir"})
CONTEXT = 1  # ops shown either side of a failing crash point
MAX_SUBSETS_SHOWN = 24


@dataclass(frozen=True)
class Row:
    """One line of the timeline.

    kind `op`: an operation; `barrier`: an fsync-like op, drawn as a rule;
    `gap`: `count` ops folded away; `crash`: the crash point right after the
    row above, with its failing states (`failing` by verdict kind, `vulns`:
    the numbers of the vulnerabilities they belong to, 1-based).
    """

    kind: Literal["op", "barrier", "gap", "crash"]
    seq: int = -1
    text: str = ""
    count: int = 0
    total: int = 0
    failing: dict[str, int] = field(default_factory=dict)
    vulns: tuple[int, ...] = ()


def is_barrier(op: OpSummary) -> bool:
    return op.op in BARRIERS


def timeline_rows(exploration: Exploration, vulns: list[Vulnerability]) -> list[Row]:
    """The trace as rows, folding ops far from failures and barriers."""
    failing: dict[int, Counter[str]] = {}
    totals: Counter[int] = Counter()
    for j in exploration.judged:
        totals[j.state.point] += 1
        if j.verdict.failing:
            failing.setdefault(j.state.point, Counter())[j.verdict.kind] += 1
    owners: dict[int, set[int]] = {}
    for n, v in enumerate(vulns, 1):
        for point in v.points:
            owners.setdefault(point, set()).add(n)
    ops = exploration.ops
    shown = {i for i, op in enumerate(ops) if is_barrier(op)}
    if ops:
        shown |= {0, len(ops) - 1}
    position = {op.seq: i for i, op in enumerate(ops)}
    for point in failing:
        i = position.get(point, -1)
        shown |= {k for k in range(i - CONTEXT, i + CONTEXT + 1) if 0 <= k < len(ops)}

    def crash_row(point: int) -> Row:
        return Row(
            "crash",
            point,
            count=sum(failing[point].values()),
            total=totals[point],
            failing=dict(failing[point]),
            vulns=tuple(sorted(owners.get(point, ()))),
        )

    rows: list[Row] = []
    if -1 in failing:
        rows.append(crash_row(-1))
    folded = 0
    for i, op in enumerate(ops):
        if i not in shown:
            folded += 1
            continue
        if folded:
            rows.append(Row("gap", count=folded))
            folded = 0
        kind: Literal["op", "barrier"] = "barrier" if is_barrier(op) else "op"
        rows.append(Row(kind, op.seq, describe_op(op)))
        if op.seq in failing:
            rows.append(crash_row(op.seq))
    if folded:
        rows.append(Row("gap", count=folded))
    return rows


def page_map(subset: Iterable[int], pages: tuple[int, ...]) -> str:
    """`▮▯▯▮`: which of the write's pages a subset kept."""
    kept = set(subset)
    return "".join("▮" if page in kept else "▯" for page in pages)


def subset_maps(subsets: tuple[tuple[int, ...], ...], pages: tuple[int, ...]) -> str:
    """Page maps of up to MAX_SUBSETS_SHOWN subsets, then how many were left out."""
    maps = [page_map(s, pages) for s in subsets[:MAX_SUBSETS_SHOWN]]
    more = len(subsets) - MAX_SUBSETS_SHOWN
    return " ".join(maps) + (f" … {more} more" if more > 0 else "")


def point_ranges(points: Iterable[int]) -> str:
    """`3, 5..9, 12`: crash points with consecutive runs joined."""
    ordered = sorted(set(points))
    parts: list[str] = []
    start = prev = None
    for p in [*ordered, None]:
        if p is not None and prev is not None and p == prev + 1:
            prev = p
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}..{prev}")
        start = prev = p
    return ", ".join(parts)


def kept_text(kept: tuple[tuple[str, tuple[int, ...]], ...]) -> str:
    """`member/snap/db pages 0, 3`; `nothing` when no pending page was kept."""
    if not kept:
        return "nothing (every pending page lost)"
    return "; ".join(
        f"{path} page{'s' if len(pages) > 1 else ''} {', '.join(map(str, pages))}"
        for path, pages in kept
    )


def excerpt_lines(excerpt: str, limit: int = 8, width: int = 160) -> str:
    """The first lines of a log excerpt, each cut to `width` characters."""
    lines = excerpt.strip("\n").splitlines()
    cut = [line if len(line) <= width else line[: width - 1] + "…" for line in lines[:limit]]
    if len(lines) > limit:
        cut.append(f"… {len(lines) - limit} more lines")
    return "\n".join(cut)
