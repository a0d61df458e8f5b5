"""What the reports show of the trace: a collapsed timeline and compact notations.

Pure helpers shared by the terminal and HTML reports: which ops to show
(those around failing crash points and every sync barrier, with long quiet
runs folded into "… 37 ops …"), page maps like `▮▯▯▮`, and crash-point
ranges like `3, 5..9`. They never print and never style: each report draws
the rows its own way. The timeline reads the states in one streaming pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from powercut.explorer.analysis.cause import RootCause, describe_op
from powercut.explorer.verdict import OpSummary
from powercut.ranges import ranges

if TYPE_CHECKING:
    from powercut.explorer.exploration import Exploration

BARRIERS = frozenset({"fsync", "fdatasync", "fsyncdir"})
MAX_QUIET_BARRIERS = 6  # sync barriers drawn in a run without failures before folding some
SHORT_RUN = 3  # failing crash points drawn one by one up to this many in a row
MAX_SUBSETS_SHOWN = 24
MAX_MAP_PAGES = 32


@dataclass(frozen=True)
class Row:
    """One line of the timeline.

    kind `op`: an operation; `barrier`: an fsync-like op, drawn as a rule;
    `failed`: a call `record --fail` failed (no barrier: it made nothing durable);
    `gap`: `count` ops folded away (`syncs` of them barriers); `crash`: the
    crash points `seq`..`last` right after the rows above, with their failing
    states (`count` of `total`, `failing` by verdict kind) and `causes`, the
    1-based numbers of the root causes they belong to.
    """

    kind: Literal["op", "barrier", "failed", "gap", "crash"]
    seq: int = -1
    text: str = ""
    count: int = 0
    total: int = 0
    failing: dict[str, int] = field(default_factory=dict)
    causes: tuple[int, ...] = ()
    last: int = -1
    syncs: int = 0


def is_barrier(op: OpSummary) -> bool:
    return op.op in BARRIERS and op.errno is None


def timeline_rows(exploration: Exploration, causes: list[RootCause]) -> list[Row]:
    """The trace as rows: failing crash points marked, quiet stretches folded.

    A run of consecutive failing crash points that belong to the same
    causes is one mark; between failures only the sync barriers
    (at most MAX_QUIET_BARRIERS per stretch), the first and last op and the
    ops next to a failure are drawn, the rest is "… n ops …".
    """
    failing: dict[int, Counter[str]] = {}
    totals: Counter[int] = Counter()
    for j in exploration.iter_judged():
        totals[j.state.point] += 1
        if j.outcome.failing:
            failing.setdefault(j.state.point, Counter())[j.outcome.verdict] += 1
    owners: dict[int, set[int]] = {}
    for n, cause in enumerate(causes, 1):
        for point in cause.points:
            owners.setdefault(point, set()).add(n)

    def crash_row(first: int, last: int, points: list[int]) -> Row:
        kinds: Counter[str] = Counter()
        for p in points:
            kinds.update(failing[p])
        return Row(
            "crash",
            first,
            count=sum(kinds.values()),
            total=sum(totals[p] for p in points),
            failing=dict(kinds),
            causes=tuple(sorted(set().union(*(owners.get(p, set()) for p in points)))),
            last=last,
        )

    rows: list[Row] = [crash_row(-1, -1, [-1])] if -1 in failing else []
    ops = exploration.ops
    runs = _runs(
        [tuple(sorted(owners.get(op.seq, {0}))) if op.seq in failing else None for op in ops]
    )
    for a, b, key in runs:
        if key is None:
            rows += _quiet_rows(ops, a, b)
        elif b - a + 1 <= SHORT_RUN:
            for op in ops[a : b + 1]:
                rows += [_op_row(op), crash_row(op.seq, op.seq, [op.seq])]
        else:
            middle = ops[a + 1 : b]
            rows += [
                _op_row(ops[a]),
                Row("gap", count=len(middle), syncs=sum(map(is_barrier, middle))),
                _op_row(ops[b]),
                crash_row(ops[a].seq, ops[b].seq, [op.seq for op in ops[a : b + 1]]),
            ]
    return rows


def _runs(keys: list[tuple[int, ...] | None]) -> list[tuple[int, int, tuple[int, ...] | None]]:
    """Maximal runs of equal keys as (first index, last index, key)."""
    runs: list[tuple[int, int, tuple[int, ...] | None]] = []
    for i, key in enumerate(keys):
        if runs and runs[-1][2] == key:
            runs[-1] = (runs[-1][0], i, key)
        else:
            runs.append((i, i, key))
    return runs


def _op_row(op: OpSummary) -> Row:
    kind = "failed" if op.errno is not None else "barrier" if is_barrier(op) else "op"
    return Row(kind, op.seq, describe_op(op))


def _quiet_rows(ops: list[OpSummary], a: int, b: int) -> list[Row]:
    """Ops a..b (no failing crash point among them), most folded away."""
    barriers = [i for i in range(a, b + 1) if is_barrier(ops[i])]
    if len(barriers) > MAX_QUIET_BARRIERS:
        keep = MAX_QUIET_BARRIERS // 2
        barriers = barriers[:keep] + barriers[-keep:]
    # Each end of a quiet stretch is either an end of the trace or next to a
    # failing crash point: both are worth seeing. So is a call that failed.
    shown = {*barriers, a, b, *(i for i in range(a, b + 1) if ops[i].errno is not None)}
    rows: list[Row] = []
    folded: list[OpSummary] = []
    for i in range(a, b + 1):
        if i not in shown:
            folded.append(ops[i])
            continue
        if folded:
            rows.append(Row("gap", count=len(folded), syncs=sum(map(is_barrier, folded))))
            folded = []
        rows.append(_op_row(ops[i]))
    if folded:
        rows.append(Row("gap", count=len(folded), syncs=sum(map(is_barrier, folded))))
    return rows


def gap_text(row: Row) -> str:
    ops = f"{row.count} op{'s' if row.count != 1 else ''}"
    return (
        f"… {ops} ({row.syncs} sync{'s' if row.syncs != 1 else ''}) …"
        if row.syncs
        else (f"… {ops} …")
    )


def crash_text(row: Row, *, with_causes: bool = True) -> str:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(row.failing.items()))
    if row.seq == -1:
        where = "before the first op"
    elif row.last != row.seq:
        where = f"after each of #{row.seq}-{row.last}"
    else:
        where = f"after #{row.seq}"
    text = f"✗ crash {where}: {row.count} of {row.total} states fail ({kinds})"
    if not with_causes or not row.causes:
        return text
    return text + " → " + ", ".join(f"#{n}" for n in row.causes)


def page_map(subset: Iterable[int], pages: tuple[int, ...]) -> str:
    """`▮▯▯▮`: which of the write's pages a subset kept."""
    kept = set(subset)
    return "".join("▮" if page in kept else "▯" for page in pages)


def subset_maps(subsets: tuple[tuple[int, ...], ...], pages: tuple[int, ...]) -> str:
    """Up to MAX_SUBSETS_SHOWN subsets, then how many were left out.

    Page maps while a write has at most MAX_MAP_PAGES pages; past that a map
    is unreadable, so each subset is its kept pages, e.g. `{0..3, 9}`.
    """
    shown = subsets[:MAX_SUBSETS_SHOWN]
    if len(pages) <= MAX_MAP_PAGES:
        texts = [page_map(s, pages) for s in shown]
    else:
        texts = ["{" + point_ranges(s) + "}" for s in shown]
    more = len(subsets) - MAX_SUBSETS_SHOWN
    return " ".join(texts) + (f" … {more} more" if more > 0 else "")


def point_ranges(points: Iterable[int], limit: int | None = None) -> str:
    """`3,5-9,12`: crash points in the one range syntax (`--points` reads it back); past
    `limit` runs, the first ones and how many points in all (`59,67,91,… (14)`)."""
    ordered = sorted(set(points))
    parts = ranges(ordered).split(",") if ordered else []
    if limit is not None and len(parts) > limit:
        return ",".join(parts[:limit]) + f",… ({len(ordered)})"
    return ",".join(parts)


def excerpt_lines(excerpt: str, limit: int = 8, width: int = 160) -> str:
    """The first lines of a log excerpt, each cut to `width` characters."""
    lines = excerpt.strip("\n").splitlines()
    cut = [line if len(line) <= width else line[: width - 1] + "…" for line in lines[:limit]]
    if len(lines) > limit:
        cut.append(f"… {len(lines) - limit} more lines")
    return "\n".join(cut)
