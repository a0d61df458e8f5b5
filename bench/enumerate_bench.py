"""Enumeration speed and memory on a synthetic trace with thousands of dirty pages.

Usage: .venv/bin/python bench/enumerate_bench.py [--pages N] [--budgets A,B]

The trace makes a few large writes (`--writes`, in pages) to one file and
twenty small ones to another, without a single fsync, so its crash
points have up to thousands of dirty pages and far more states than any
budget: they are enumerated with the bounded strategy under each
`--budgets` value (max states per crash point). For each budget
it prints states per second (a plain run) and the peak memory (a second run
under tracemalloc), side by side: memory must not grow with the number of
states, only with the set of distinct keys (shown separately).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from powercut.recorder.trace_format import Trace, TraceWriter, open_trace
from powercut.replayer.enumerate import Enumeration
from powercut.replayer.models import get_model

SMALL_WRITES = 20


def make_trace(path: Path, writes: list[int]) -> Trace:
    with TraceWriter(path, argv=["bench"], workload={"name": "bench"}) as w:
        w.append("create", 1, path="log", mode=0o644)
        for i in range(SMALL_WRITES):  # many crash points with few dirty pages
            w.append("write", 1, path="log", offset=i * 1000, data=bytes([i % 255 + 1]) * 1000)
        w.append("create", 1, path="big", mode=0o644)
        offset = 0
        for pages in writes:
            data = bytes(range(1, 256)) * (pages * 4096 // 255 + 1)
            w.append("write", 1, path="big", offset=offset + 100, data=data[:pages * 4096])
            offset += pages * 4096
    return open_trace(path)


def run(trace: Trace, budget: int, *, measure_memory: bool) -> dict[str, float]:
    enumeration = Enumeration(trace, get_model(), max_states=budget)
    if measure_memory:
        tracemalloc.start()
    start = time.perf_counter()
    states = 0
    for _ in enumeration:
        states += 1
    elapsed = time.perf_counter() - start
    peak = 0
    if measure_memory:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    stats = enumeration.stats
    keys = stats.distinct * (sys.getsizeof("k" * 32) + 30)  # str + set slot, roughly
    return {"states": states, "distinct": stats.distinct, "seconds": elapsed,
            "per_second": states / elapsed if elapsed else 0.0, "peak": peak,
            "keys": keys, "max_units": max(len(cp.units) for cp in enumeration.crash_points),
            "points": stats.crash_points, "bounded": stats.bounded_points}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", default="600,1200,2400",
                        help="pages of each large write, comma-separated")
    parser.add_argument("--budgets", default="5000,500000", help="max states per crash point")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    writes = [int(p) for p in args.writes.split(",")]
    with tempfile.TemporaryDirectory(prefix="powercut-bench-") as tmp:
        trace = make_trace(Path(tmp) / "bench.trace", writes)
        rows = [(b, run(trace, b, measure_memory=False), run(trace, b, measure_memory=True))
                for b in budgets]
    mib = 1 << 20
    print(f"trace: {trace.op_count} ops, large writes of {args.writes} pages, no fsync; "
          f"up to {rows[0][1]['max_units']:.0f} dirty pages at one crash point")
    print(f"{'max-states/point':>17} {'points':>7} {'bounded':>8} {'states':>9} {'distinct':>9} "
          f"{'states/s':>9} {'peak MiB':>9} {'keys MiB':>9} {'peak-keys':>10}")
    for budget, timed, mem in rows:
        print(f"{budget:>17} {timed['points']:>7.0f} {timed['bounded']:>8.0f} "
              f"{timed['states']:>9.0f} {timed['distinct']:>9.0f} {timed['per_second']:>9.0f} "
              f"{mem['peak'] / mib:>9.1f} {mem['keys'] / mib:>9.1f} "
              f"{(mem['peak'] - mem['keys']) / mib:>10.1f}")


if __name__ == "__main__":
    main()
