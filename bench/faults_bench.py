"""9 fsync failures: the 100-write Redis sweep, every fsync failed once and each run judged.

`powercut faults --workload redis --writes 100` with defaults: the clean
run counts the fsync and fdatasync calls (about one per acknowledged
write), then each is failed in its own run, `--workers` runs at a time
(the largest count asked for), and each run's crash states from the
failed call on are checked with the redis checker (no results cache). The
target is absolute (at most 10 minutes on 2 cores), so beside it, in the
same bench run, a plain recording of the same workload is timed: the
sweep over (runs x a plain run / workers) says what a fault run costs
beyond recording it, whatever else loads the machine. Real parts only.
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.figures import Figure, Target
from powercut.faultplan import Fault
from powercut.faults import Judging, sweep
from powercut.faults.summary import fold, reactions
from powercut.recorder.record import record
from powercut.targets.redis.workload import RedisWrites

WRITES = 100
SWEEP_TARGET = Target("<=", 600.0)


def run(ctx: Context) -> list[Figure]:
    workload = RedisWrites.with_binary(None, writes=WRITES)
    workers = max(ctx.workers)
    started = time.monotonic()
    plain = record(ctx.work / "redis-plain.trace", workload)
    plain_wall = time.monotonic() - started
    started = time.monotonic()
    done = sweep(workload, Fault.parse("fsync"), ctx.work / "redis-faults",
                 judging=Judging(cache=None, timeout=ctx.timeout), workers=workers)
    wall = time.monotonic() - started
    runs = len(done.runs)
    checked = sum(r.checked for r in done.runs)
    said = ", ".join(f"{n} {kind}" for kind, n in reactions(done.runs).most_common())
    causes = fold(done.runs)
    return [
        Figure("9 faults", f"redis {WRITES} writes: fsync sweep, {workers} workers", wall, " s",
               SWEEP_TARGET,
               f"{runs} runs of {done.candidates} calls ({said}), {checked} states checked, "
               f"{len(causes)} cause(s), {sum(bool(r.error) for r in done.runs)} errors"),
        Figure("9 faults", "sweep / (runs x a plain run / workers)",
               wall / max(1e-9, runs * plain_wall / workers), "x", None,
               f"plain record of the same workload {plain_wall:.1f} s "
               f"({plain.ops} ops, {plain.status})"),
    ]
