"""`bench/run`: every figure of the performance work, measured side by side in one run.

    bench/run [--quick] [--only explore,models,checker,materialise,record,enumerate,memory,cache,
                             dask,kernel,faults,cluster,sharing]
              [--timeout S] [--workers 1,2]

Each sub-bench prints one line per figure as soon as it is measured
(measured value, target, PASS/FAIL), then a table of all of them closes the
run. Exit status 0 when every figure with a target meets it, 1 otherwise.
Real parts only: the real etcd, the real FUSE mount; nothing is mocked and
no result is written down in advance. `--quick` takes fewer repetitions and
a 3 s checker timeout (a hang then costs 3 s in the exploration and in its
floor alike, so the explorer's own overhead weighs more, not less).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import (
    cache_bench,
    checker_floor,
    cluster_bench,
    dask_bench,
    enumerate_bench,
    explore_efficiency,
    faults_bench,
    kernel_bench,
    materialise_bench,
    memory_bench,
    models_floor,
    models_run,
    record_overhead,
)
from bench.context import Context
from bench.figures import Figure, table
from powercut.explorer.checkers import DEFAULT_TIMEOUT

QUICK_TIMEOUT = 3.0


@dataclass(frozen=True)
class Bench:
    name: str  # what --only selects
    what: str
    run: Callable[[Context], list[Figure]]


# The suite, in the order it runs (the exploration first: its floor pass is
# shared with the checker and materialise benches).
SUITE: list[Bench] = [
    Bench("explore", "1 exploration vs its floor, 1b early hangs, 3 time to first failure",
          explore_efficiency.run),
    Bench("models", "1m the ext4-ordered and alice models vs their floors", models_floor.run),
    Bench("checker", "2 checker floor, before vs after", checker_floor.run),
    Bench("materialise", "5b materialising the 64 MB sparse WAL", materialise_bench.run),
    Bench("record", "4 recording overhead", record_overhead.run),
    Bench("enumerate", "5a enumeration speed and memory", enumerate_bench.run),
    Bench("memory", "7 memory flat in the number of states", memory_bench.run),
    Bench("cache", "6 results cache: a second explore checks nothing", cache_bench.run),
    Bench("dask", "scale out: the same exploration on a Dask cluster", dask_bench.run),
    Bench("kernel", "8 kernel file systems: git on ext4, materialising a 256 MiB image",
          kernel_bench.run),
    Bench("faults", "9 fsync failures: the 100-write redis sweep", faults_bench.run),
    Bench("cluster", "10 the etcd cluster, 2 workers vs 1, each check on its own loopback",
          cluster_bench.run),
    Bench("sharing", "11 three models in one run vs lazyfs plus the checks the others add",
          models_run.run),
]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer reps, 3 s checker timeout")
    parser.add_argument("--only", default="", help="comma-separated: " +
                        ", ".join(b.name for b in SUITE))
    parser.add_argument("--timeout", type=float, default=None,
                        help=f"checker timeout per state (default {DEFAULT_TIMEOUT:g} s, "
                             f"{QUICK_TIMEOUT:g} s with --quick)")
    parser.add_argument("--workers", default="1,2", help="worker counts for figure 1")
    args = parser.parse_args(argv)
    known = {b.name for b in SUITE}
    unknown = set(filter(None, args.only.split(","))) - known
    if unknown:
        parser.error(f"--only {','.join(sorted(unknown))}: not one of {', '.join(sorted(known))}")
    return args


def _left_behind(ctx: Context) -> list[str]:
    """Processes or mounts of this run still alive (there must be none)."""
    found = []
    work = str(ctx.work)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if work in cmd and int(pid) != os.getpid():
            found.append(f"process {pid}: {cmd[:100]}")
    with open("/proc/mounts") as f:
        found += [f"mount {line.split()[1]}" for line in f if work in line.split()[1]]
    return found


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    timeout = args.timeout or (QUICK_TIMEOUT if args.quick else DEFAULT_TIMEOUT)
    ctx = Context(quick=args.quick, timeout=timeout,
                  workers=tuple(int(w) for w in args.workers.split(",")))
    chosen = [b for b in SUITE if not args.only or b.name in args.only.split(",")]
    print(f"powercut bench{' --quick' if args.quick else ''}: {platform.node()}, "
          f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}, python "
          f"{platform.python_version()}; trace {ctx.trace_path.name}, etcd {ctx.binary} "
          f"{ctx.checker().version}, checker timeout {timeout:g} s", flush=True)
    figures: list[Figure] = []
    started = time.monotonic()
    try:
        for bench in chosen:
            print(f"-- {bench.what}", flush=True)
            t0 = time.monotonic()
            for figure in bench.run(ctx):
                figures.append(figure)
                print(figure.line(), flush=True)
            print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        left = _left_behind(ctx)
        ctx.close()
    print()
    print(table(figures))
    failed = [f for f in figures if f.passed is False]
    print(f"\n{len(figures)} figures, {sum(f.passed is True for f in figures)} pass, "
          f"{len(failed)} fail; {time.monotonic() - started:.0f} s; left behind: "
          f"{', '.join(left) if left else 'nothing'}")
    return 1 if failed or left else 0


if __name__ == "__main__":
    sys.exit(main())
