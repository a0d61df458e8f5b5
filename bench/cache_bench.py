"""Figure 6: the results cache. A second exploration of the same states checks nothing.

Three explorations of the bootstrap trace with one `ResultsCache` (in the
bench's temp dir, never the user's): cold (every distinct state checked
and stored), warm (the same trace again), and a byte-identical copy of the
trace under another name (a re-recording with identical bytes). The warm
and copy runs must run the checker on no state at all and give every state
the verdict the cold run gave it.
"""

from __future__ import annotations

import shutil
import time

from bench.context import Context
from bench.figures import Figure, Target
from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import explore
from powercut.explorer.store.cache import ResultsCache
from powercut.trace import open_trace


def _verdicts(e: Exploration) -> list[tuple[str, str, str]]:
    return [(j.state.key, j.outcome.verdict, j.outcome.signature) for j in e.judged]


def run(ctx: Context) -> list[Figure]:
    workers = max(ctx.workers)
    copy = ctx.work / "re-recorded.trace"
    shutil.copyfile(ctx.trace_path, copy)
    runs: dict[str, tuple[Exploration, float]] = {}
    with ctx.checker() as checker, \
            ResultsCache.open(ctx.work / "cache", checker.identity()) as cache:
        for name, trace in (("cold", ctx.trace), ("warm", ctx.trace), ("copy", open_trace(copy))):
            started = time.monotonic()
            e = explore(trace, checker, "lazyfs", workers=workers, cache=cache,
                        workdir=ctx.work)
            runs[name] = (e, time.monotonic() - started)
    cold, cold_wall = runs["cold"]
    figures = [Figure("6 cache", "states checked, cold", cold.checked, "",
                      detail=f"{cold.distinct} distinct states, the rest hangs judged again at "
                             f"the full timeout; {cold_wall:.1f} s")]
    for name, what in (("warm", "second explore"), ("copy", "byte-identical copy")):
        e, wall = runs[name]
        differ = sum(a != b for a, b in zip(_verdicts(e), _verdicts(cold), strict=True))
        figures += [
            Figure("6 cache", f"states checked, {what}", e.checked, "", Target("==", 0),
                   f"{e.reused} reused; {wall:.2f} s vs {cold_wall:.1f} s cold"),
            Figure("6 cache", f"verdicts unlike the cold run, {what}", differ, "",
                   Target("==", 0)),
        ]
    return figures
