"""Figure 5b: writing a crash state with etcd's 64 MB sparse WAL costs little next to one check.

The state is the last distinct state of the bootstrap trace that holds a
file of at least 64 MB (etcd truncates each new WAL segment to 64,000,000
bytes before writing a few hundred bytes into it). `materialise` (image
built from the pending crash point, sparse files, modes) runs into fresh
directories; the figure is its median over the median bare check of an
`ok` state (`Context.median_check`). The WAL's allocated size is shown to
prove it stayed sparse.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time

from bench.context import Context
from bench.figures import Figure, Target
from powercut.replayer.materialise import materialise
from powercut.replayer.state import CrashState

BIG = 64_000_000
SHARE_TARGET = Target("<", 5.0)


def big_state(ctx: Context) -> tuple[CrashState, str]:
    """The last distinct state holding a file of at least 64 MB, and that file's path."""
    for state in reversed(ctx.states()):
        big = [e.path for e in state.image.entries if e.kind == "file" and e.size >= BIG]
        if big:
            return state, big[0]
    raise RuntimeError(f"no state of {ctx.trace_path} holds a file of {BIG} bytes")


def run(ctx: Context) -> list[Figure]:
    state, path = big_state(ctx)
    reps = 5 if ctx.quick else 20
    times = []
    allocated = 0
    for i in range(reps):
        target = ctx.work / f"materialise-{i}"
        started = time.perf_counter()
        done = materialise(state, target)
        times.append(time.perf_counter() - started)
        allocated = os.stat(target / path).st_blocks * 512
        shutil.rmtree(target)
    took = statistics.median(times)
    check = ctx.median_check("ok")
    return [
        Figure("5 materialise", "state with the 64 MB WAL, median", took * 1000, " ms",
               detail=f"crash point {state.point}, {done.files} files, {done.bytes:,} bytes "
                      f"apparent; {path.rsplit('/', 1)[-1]} allocates {allocated:,} bytes; "
                      f"{reps} reps"),
        Figure("5 materialise", "materialise / median ok check", 100 * took / check, " %",
               SHARE_TARGET, f"{took * 1000:.1f} ms / {check * 1000:.0f} ms"),
    ]
