"""Figure 5a: enumeration speed and memory on a synthetic trace with thousands of dirty pages.

The trace makes a few large writes (`--writes`, in pages) to one file and
twenty small ones to another, without a single fsync, so its crash points
have up to thousands of dirty pages and far more states than any budget:
they are enumerated with the bounded strategy under each `--budgets` value
(max states per crash point). Per budget, `--reps` fresh Python processes
each open the trace and time one enumeration (the median is the figure:
states per second; the replay alone, which every budget pays once, is timed
the same way and shown apart), and one more enumerates under tracemalloc for its peak
memory, next to the peak of a set of as many 32-digit keys built the same
way. The memory beyond the keys must not grow with the number of states
(flat memory): the set of distinct keys is the only thing allowed to.

    .venv/bin/python -m bench.enumerate_bench [--writes 600,1200,2400] [--budgets 5000,500000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.context import REPO, Context
from bench.figures import Figure, Target
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models import get_model
from powercut.trace import TraceWriter, open_trace

SMALL_WRITES = 20
WRITES = (600, 1200, 2400)
BUDGETS = (5000, 500000)
# A bounded point's states are its classes then uniform random samples, which lose about
# half of its thousands of pages: a state costs time in proportion to its pages (its key
# and its name). 2,000 states/s enumerates the default budget in a second, against at
# least 2,000 checks of tens of milliseconds each. (Until the strategies of the scale
# issue the states were only "at most k lost or kept", a few pages each: 50,000/s.)
RATE_TARGET = Target(">=", 2_000)
# Memory beyond the keys at the largest budget over that at the smallest: "flat" means
# ~1 whatever the number of states (a few MiB of allocator slack allowed).
FLAT_TARGET = Target("<=", 1.25)
MIB = 1 << 20


def make_trace(path: Path, writes: tuple[int, ...] = WRITES) -> Path:
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
    return path


def child(trace_path: Path, budget: int) -> dict[str, float]:
    """One timed enumeration in this (fresh) process."""
    trace = open_trace(trace_path)
    enumeration = Enumeration(trace, get_model(), budget=None, max_states=budget)
    start = time.perf_counter()
    states = sum(1 for _ in enumeration)
    elapsed = time.perf_counter() - start
    stats = enumeration.stats
    return {"budget": budget, "states": states, "distinct": stats.distinct, "seconds": elapsed,
            "per_second": states / elapsed, "points": stats.crash_points,
            "bounded": stats.bounded_points,
            "max_units": max(cp.units for cp in enumeration.crash_points)}


def child_replay(trace_path: Path, budget: int) -> dict[str, float]:
    """The fixed part alone, in this (fresh) process: the model replays the trace and
    builds every crash point's pending units, and no state is chosen."""
    trace = open_trace(trace_path)
    start = time.perf_counter()
    for _ in get_model().crash_points(trace):
        pass
    return {"replay": time.perf_counter() - start}


def child_memory(trace_path: Path, budget: int) -> dict[str, float]:
    """Peak traced memory of one enumeration, and of a set of as many keys built alike."""
    trace = open_trace(trace_path)
    enumeration = Enumeration(trace, get_model(), budget=None, max_states=budget)
    tracemalloc.start()
    for _ in enumeration:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    distinct = enumeration.stats.distinct
    del enumeration
    # The one thing allowed to grow: the set of distinct keys (32 hex digits each),
    # measured the same way, resizes included.
    tracemalloc.start()
    keys = set()
    for i in range(distinct):
        keys.add(f"{i:032x}")
    _, keys_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak": peak, "keys": keys_peak}


def _in_child(mode: str, path: Path, budget: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "bench.enumerate_bench", mode, str(path),
                          str(budget)], cwd=REPO, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def measure(writes: tuple[int, ...], budgets: tuple[int, ...], reps: int = 3
            ) -> list[dict[str, float]]:
    """Per budget: the median of `reps` timed runs, and one traced-memory run."""
    with tempfile.TemporaryDirectory(prefix="powercut-bench-") as tmp:
        path = make_trace(Path(tmp) / "bench.trace", writes)
        replay = statistics.median(_in_child("--child-replay", path, 0)["replay"]
                                   for _ in range(reps))
        rows = []
        for budget in budgets:
            runs = sorted((_in_child("--child", path, budget) for _ in range(reps)),
                          key=lambda r: r["seconds"])
            rows.append({**runs[len(runs) // 2], **_in_child("--child-memory", path, budget),
                         "reps": reps, "replay": replay})
    return rows


def figures_of(rows: list[dict[str, float]]) -> list[Figure]:
    figures = []
    for r in rows:
        figures.append(Figure(
            "5 enumerate", f"states/s, max {r['budget']:.0f} states/point", r["per_second"], "",
            RATE_TARGET,
            f"{r['states']:.0f} states ({r['distinct']:.0f} distinct) in {r['seconds']:.2f} s, "
            f"median of {r['reps']:.0f} fresh processes; {r['points']:.0f} points, "
            f"{r['bounded']:.0f} bounded, up to {r['max_units']:.0f} dirty pages; "
            f"peak {r['peak'] / MIB:.1f} MiB, keys {r['keys'] / MIB:.1f} MiB"))
    for r in rows:
        figures.append(Figure(
            "5 enumerate", f"states/s beyond the replay, max {r['budget']:.0f} states/point",
            r["states"] / max(r["seconds"] - r["replay"], 1e-9), "",
            detail=f"the replay alone (every crash point built, no state chosen) takes "
                   f"{r['replay']:.3f} s of the {r['seconds']:.3f} s"))
    small, large = rows[0], rows[-1]
    beyond = [r["peak"] - r["keys"] for r in (small, large)]
    figures.append(Figure(
        "5 enumerate", "peak memory beyond keys, largest / smallest budget",
        beyond[1] / beyond[0], "x", FLAT_TARGET,
        f"{beyond[0] / MIB:.1f} MiB at {small['states']:.0f} states, "
        f"{beyond[1] / MIB:.1f} MiB at {large['states']:.0f} states (tracemalloc)"))
    return figures


def run(ctx: Context) -> list[Figure]:
    return figures_of(measure(WRITES, BUDGETS, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", default=",".join(map(str, WRITES)),
                        help="pages of each large write, comma-separated")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                        help="max states per crash point, comma-separated")
    parser.add_argument("--reps", type=int, default=3, help="timed runs per budget")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-memory", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-replay", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for fn, given in ((child, args.child), (child_memory, args.child_memory),
                      (child_replay, args.child_replay)):
        if given:
            print(json.dumps(fn(Path(given[0]), int(given[1]))))
            return
    rows = measure(tuple(int(p) for p in args.writes.split(",")),
                   tuple(int(b) for b in args.budgets.split(",")), args.reps)
    for f in figures_of(rows):
        print(f.line())


if __name__ == "__main__":
    main()
