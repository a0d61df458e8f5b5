"""Figure 10: the three-member etcd cluster checked side by side, each on a loopback of its own.

`traces/etcd-cluster.trace` explored with defaults (early hangs, no cache)
with 1 worker and with 2, one after the other. The members' peer ports are
fixed in their data, so checks used to run one at a time whatever the
worker count; each check now runs in a network namespace of its own, and 2
workers must take at most 0.6x the time of 1, with the same root causes and
the same verdict for every state. The suite's closing check (no process or
mount of the run left) covers the programs the checks started; a check's
namespace dies with its programs.
"""

from __future__ import annotations

from bench.context import Context
from bench.explore_efficiency import verdicts
from bench.figures import Figure, Target

TRACE = "etcd-cluster"
SPEEDUP_TARGET = Target("<=", 0.6)


def run(ctx: Context) -> list[Figure]:
    if ctx.quick:
        return []  # two explorations of several minutes each
    one = ctx.explored(TRACE, 1)
    two = ctx.explored(TRACE, 2)
    differ = sum(a != b for a, b in zip(verdicts(one), verdicts(two), strict=True))
    causes = [sorted(c.id for c in r.exploration.causes) for r in (one, two)]
    checker = two.exploration.checker
    return [
        Figure("10 cluster", "wall, 1 worker", one.wall, " s",
               detail=f"{one.exploration.enumerated} states, {one.exploration.distinct} "
                      f"distinct, {one.exploration.checked} checks; {checker}"),
        Figure("10 cluster", "wall 2 workers / 1 worker", two.wall / one.wall, "x",
               SPEEDUP_TARGET, f"{two.wall:.0f} s vs {one.wall:.0f} s"),
        Figure("10 cluster", "root causes unlike the 1-worker run",
               len(set(causes[0]) ^ set(causes[1])), "", Target("==", 0),
               f"{len(causes[1])} causes: {', '.join(causes[1])}"),
        Figure("10 cluster", "verdicts unlike the 1-worker run", differ, "", Target("==", 0),
               f"of {len(verdicts(two))} states"),
    ]
