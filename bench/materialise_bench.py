"""Figures 5b and 5c: writing a crash state costs little next to one check, whatever its size.

5b: a state with etcd's 64 MB sparse WAL.

The state is the last distinct state of the bootstrap trace that holds a
file of at least 64 MB (etcd truncates each new WAL segment to 64,000,000
bytes before writing a few hundred bytes into it). `materialise` (image
built from the pending crash point, sparse files, modes) runs into fresh
directories; the figure is its median over the median bare check of an
`ok` state (`Context.median_check`). The WAL's allocated size is shown to
prove it stayed sparse.

5c: a state of a 1 GiB file (dense: 262,144 pages, cycling through 64
distinct ones so the bench holds little memory) and the other state of the
same crash point, whose 4 kept pages differ: the lazyfs model's shape, a
durable snapshot under two overlays. Before: `materialise` writes the whole
gigabyte for each. After: a worker's `Stages`, as the explorer uses them,
in a thread of its own; the two states are written once, untimed (in full:
on a file system without reflinks the first also gets the worker its
scratch XFS volume), then they alternate and each `enter` is timed: the base patched
with the 4 pages that differ, then reflink-cloned for the check. The bytes
written per state are counted too.
"""

from __future__ import annotations

import os
import shutil
import statistics
import threading
import time

from bench.context import Context
from bench.figures import Figure, Target
from powercut.explorer.run.stages import Stages
from powercut.replayer.image import Entry, Image, Overlay
from powercut.replayer.materialise import materialise
from powercut.replayer.pages import FrozenPages
from powercut.replayer.state import CrashState

BIG = 64_000_000
SHARE_TARGET = Target("<", 5.0)
GIB_TARGET = Target("<=", 5.0)  # ms for a state of a 1 GiB file, 4 pages differing
PAGE = 4096
GIB_PAGES = (1 << 30) // PAGE


def big_state(ctx: Context) -> tuple[CrashState, str]:
    """The last distinct state holding a file of at least 64 MB, and that file's path."""
    for state in reversed(ctx.states()):
        big = [e.path for e in state.image.entries if e.kind == "file" and e.size >= BIG]
        if big:
            return state, big[0]
    raise RuntimeError(f"no state of {ctx.trace_path} holds a file of {BIG} bytes")


def gib_states() -> list[Image]:
    """Two states of one crash point of a 1 GiB file: 4 kept pages differ between them."""
    distinct = [bytes([i + 1]) * PAGE for i in range(64)]
    durable = FrozenPages({i: distinct[i % 64] for i in range(GIB_PAGES)})
    spread = GIB_PAGES // 4
    return [Image(PAGE, (Entry("db", "dir", 0o755), Entry(
        "db/data", "file", 0o644, GIB_PAGES * PAGE,
        Overlay(durable, {i * spread + 17: bytes([200 + k]) * PAGE for i in range(4)}))))
        for k in range(2)]


def _by_difference(ctx: Context, states: list[Image], reps: int) -> dict[str, object]:
    """The timed enters of `Stages`, in a thread of its own (the only one that sees its
    volume), closed before it returns."""
    out: dict[str, object] = {}

    def run() -> None:
        stages = Stages(ctx.work / "gib-stages")
        try:
            for state in states:  # in full: the first on the work dir, then on a volume
                stages.enter(state)
                stages.leave()
            times, written = [], []
            for i in range(reps):
                before = stages.written
                started = time.perf_counter()
                got = stages.enter(states[(i + 1) % 2])
                times.append(time.perf_counter() - started)
                written.append(stages.written - before)
                with open(got / "db/data", "r+b") as f:  # as a checker would
                    f.seek(12345)
                    f.write(b"the checker was here")
                stages.leave()
            out.update(times=times, written=written, how=stages.how())
        except BaseException as e:
            out["error"] = e
        finally:
            stages.close()

    thread = threading.Thread(target=run, name="powercut-bench-staging")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out


def gib(ctx: Context) -> list[Figure]:
    states = gib_states()
    full = []
    for i in range(1 if ctx.quick else 2):
        target = ctx.work / f"gib-{i}"
        started = time.perf_counter()
        materialise(states[i % 2], target)
        full.append(time.perf_counter() - started)
        shutil.rmtree(target)
    reps = 10 if ctx.quick else 40
    got = _by_difference(ctx, states, reps)
    times: list[float] = got["times"]  # type: ignore[assignment]
    written: list[int] = got["written"]  # type: ignore[assignment]
    took = statistics.median(times)
    return [
        Figure("5 materialise", "1 GiB file, 4 pages differ, before: in full, median",
               statistics.median(full) * 1000, " ms",
               detail=f"materialise(), {len(full)} reps, {GIB_PAGES:,} pages written each"),
        Figure("5 materialise", "1 GiB file, 4 pages differ, by difference, median",
               took * 1000, " ms", GIB_TARGET,
               f"{got['how']}; {reps} states alternating; max {max(times) * 1000:.1f} ms; "
               f"bytes written per state: median {statistics.median(written):,.0f}"),
    ]


def run(ctx: Context) -> list[Figure]:
    return wal(ctx) + gib(ctx)


def wal(ctx: Context) -> list[Figure]:
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
