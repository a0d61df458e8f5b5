"""Figures 1, 1b and 3: exploration against its floor, early hangs against full ones, first failure.

Figure 1: the wall time of `explore()` with defaults (early hangs, no
cache) on the seed and on `etcd-writes`, over the floor measured
independently right after it (`Context.floor`: each distinct state's bare
check with the deadline the exploration gave it, plus one full timeout per
confirmed hang cause, over the workers, or the longest single check).
Whatever the explorer adds (enumeration, materialisation, scheduling, the
root-cause analysis, idle workers) shows as the ratio above 1.

Figure 1b: the seed explored with early hangs over the same exploration
with every hang waited out (`early_hangs=False`, `--full-hangs`), side by
side, and whether every state got the same verdict.

Figure 3: seconds from calling `explore()` to the first failing verdict.

Nothing here may change what the explorer checks: it calls the library
API exactly as the CLI does.
"""

from __future__ import annotations

from collections import Counter

from bench.context import SEED, Context, Run
from bench.figures import Figure, Target

EFFICIENCY_TARGET = Target("<=", 1.1)
FIRST_FAILURE_TARGET = Target("<", 3.0)
SEED_WALL_TARGET = Target("<=", 15.0)
TRACES = (SEED, "etcd-writes")


def verdicts(run: Run) -> list[tuple[int, str, str, str]]:
    return [(j.state.point, j.state.key, j.outcome.verdict, j.outcome.signature)
            for j in run.exploration.iter_judged()]


def efficiency(ctx: Context, name: str, model: str = "lazyfs",
               target: Target = EFFICIENCY_TARGET, bench: str = "1 explore") -> list[Figure]:
    """Exploration of trace `name` under `model` over its floor, and whether the bare checks
    agree with it (figure 3, the time to the first failure, for lazyfs only)."""
    run = ctx.explored(name, model=model)
    floor = ctx.floor(name, model)
    e = run.exploration
    kinds = Counter(b.verdict for b in floor.bare)
    bare = {b.state.key: b.verdict for b in floor.bare}
    differ = sum(1 for j in e.iter_judged() if not j.state.duplicate
                 and j.state.key in bare and bare[j.state.key] != j.outcome.verdict)
    w = f"{run.workers} worker{'s' if run.workers > 1 else ''}"
    under = "" if model == "lazyfs" else f" {model},"
    figures = [
        Figure(bench, f"wall / floor,{under} {name}, {w}", run.wall / floor.seconds, "x",
               target,
               f"explore {run.wall:.1f} s; floor {floor.seconds:.1f} s = max({floor.summed:.1f}"
               f" s / {run.workers}, longest {floor.longest:.1f} s): {len(floor.bare)} bare "
               f"checks + {floor.confirmed_hangs} confirmed hang cause(s) x {floor.timeout:g} s;"
               f" {e.checked} checks in the exploration ({e.checked - e.distinct} beyond the "
               "distinct states); " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))),
        Figure(bench, f"verdicts unlike the bare checks,{under} {name}", differ, "",
               Target("==", 0), "same state, explorer vs checker alone"),
    ]
    if model != "lazyfs":
        return figures
    return [
        *figures,
        Figure("3 first failure", f"time to first failing verdict, {name}, {w}",
               run.first_failing if run.first_failing is not None else float("inf"), " s",
               FIRST_FAILURE_TARGET,
               "from explore() start" if run.first_failing is not None
               else "no failing verdict at all"),
    ]


def early_vs_full(ctx: Context) -> list[Figure]:
    early = ctx.explored(SEED)
    full = ctx.explored(SEED, early=False)
    differ = sum(a != b for a, b in zip(verdicts(early), verdicts(full), strict=True))
    confirmed = [c.hang for c in early.exploration.causes if c.verdict == "hang"]
    return [
        Figure("1b hangs", f"seed wall, early hangs, {early.workers} workers", early.wall, " s",
               SEED_WALL_TARGET, f"{early.exploration.distinct} distinct states; hang causes: "
               + ("; ".join(confirmed) or "none")),
        Figure("1b hangs", "seed wall, early hangs / every hang at the full timeout",
               early.wall / full.wall, "x", Target("<", 1.0),
               f"{early.wall:.1f} s vs {full.wall:.1f} s (--full-hangs)"),
        Figure("1b hangs", "states judged unlike the full-timeout run", differ, "",
               Target("==", 0), f"of {len(verdicts(early))} states"),
    ]


def run(ctx: Context) -> list[Figure]:
    figures = []
    for name in TRACES[:1] if ctx.quick else TRACES:
        figures += efficiency(ctx, name)
    return figures + early_vs_full(ctx)
