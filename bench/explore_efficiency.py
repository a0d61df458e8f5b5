"""Figures 1 and 3: how close an exhaustive exploration comes to its floor, and how soon it fails.

Figure 1: the wall time of `explore()` on the bootstrap trace (the etcd it
was recorded with, every distinct state checked once) divided by the floor,
the sum of the bare checks of those states (`Context.floor`, states
materialised beforehand, the checker alone) divided by the worker count.
Whatever the explorer adds (enumeration, materialisation, scheduling,
clean-up, idle workers) shows as the ratio above 1. The floor is measured
between the explorations, so drift on a shared machine hits both sides.

Figure 3: seconds from calling `explore()` to the first failing verdict
(`Progress.failing > 0`), from the same runs.

Nothing here may change what the explorer checks: it calls the library
API exactly as the CLI does.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from bench.context import Context
from bench.figures import Figure, Target
from powercut.explorer.run.drive import Progress, explore
from powercut.explorer.verdict import Exploration

EFFICIENCY_TARGET = Target("<=", 1.25)
FIRST_FAILURE_TARGET = Target("<", 3.0)


@dataclass(frozen=True)
class Run:
    """One timed exploration."""

    workers: int
    wall: float
    first_failing: float | None
    exploration: Exploration


def timed_explore(ctx: Context, workers: int) -> Run:
    first: list[float] = []
    with ctx.checker() as checker:  # made before the clock starts (it runs etcd --version)
        started = time.monotonic()

        def on_progress(p: Progress) -> None:
            if not first and p.failing > 0:
                first.append(time.monotonic() - started)

        e = explore(ctx.trace, checker, "lazyfs", workers=workers, on_progress=on_progress,
                    workdir=ctx.work)
        wall = time.monotonic() - started
    return Run(workers, wall, first[0] if first else None, e)


def run(ctx: Context) -> list[Figure]:
    runs: list[Run] = []
    for i, workers in enumerate(ctx.workers):
        if i == 1:
            ctx.floor()  # between the first and the second exploration
        runs.append(timed_explore(ctx, workers))
    floor = ctx.floor()
    bare_sum = sum(b.seconds for b in floor)
    bare_kinds = {b.state.key: b.kind for b in floor}
    figures = []
    for r in runs:
        e = r.exploration
        distinct = [j for j in e.judged if not j.state.duplicate]
        differ = sum(1 for j in distinct if bare_kinds.get(j.state.key) != j.verdict.kind)
        kinds = Counter(j.verdict.kind for j in distinct)
        w = f"{r.workers} worker{'s' if r.workers > 1 else ''}"
        figures += [
            Figure("1 explore", f"wall / floor, {w}", r.wall / (bare_sum / r.workers), "x",
                   EFFICIENCY_TARGET,
                   f"explore {r.wall:.1f} s; floor {bare_sum:.1f} s of {len(floor)} bare "
                   f"checks / {r.workers}; timeout {ctx.timeout:g} s; "
                   + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))),
            Figure("1 explore", f"explorer overhead per state, {w}",
                   1000 * (r.wall - bare_sum / r.workers) / max(e.distinct, 1), " ms",
                   detail="(explore wall - floor) / distinct states: enumeration, "
                          "materialisation, scheduling, clean-up, idle workers"),
            Figure("1 explore", f"states checked, {w}", e.checked, "", Target("==", e.distinct),
                   f"{e.enumerated} enumerated, {e.distinct} distinct, "
                   f"{len(floor)} in the floor pass"),
            Figure("1 explore", f"verdicts unlike the bare checks, {w}", differ, "",
                   Target("==", 0), "same state, explorer vs checker alone"),
        ]
        first = r.first_failing
        figures.append(Figure(
            "3 first failure", f"time to first failing verdict, {w}",
            first if first is not None else float("inf"), " s", FIRST_FAILURE_TARGET,
            "from explore() start" if first is not None else "no failing verdict at all"))
    return figures
