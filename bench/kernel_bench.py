"""Figure 8: kernel file systems (`record --fs`), the issue's done-when figures.

8a: git with `core.fsync=all` and 3 commits, recorded on ext4 and explored
with defaults (2 workers, `--no-cache`): wall time at most 300 s, peak RSS
of powercut at most 500 MB, measured in a fresh process as figure 7 does.

8b: writing one crash state of etcd's bootstrap on a 256 MiB ext4 image
(materialise, sparse) against the median bare check of such a state on
the kernel (attach, mount, the etcd checker, unmount, detach): at most 10 %.
Both need root, loop devices and the real programs.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.context import REPO, Context
from bench.figures import Figure, Target
from bench.memory_bench import measure
from powercut.explorer.checkers.kernel import OnImage
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.materialise import materialise
from powercut.replayer.models import get_model
from powercut.targets import for_workload
from powercut.trace import open_trace

WALL = Target("<=", 300.0)
RSS = Target("<=", 500.0)
SHARE = Target("<=", 10.0)


def _record(ctx: Context, name: str, *args: str) -> Path:
    trace = ctx.work / f"{name}.trace"
    trace.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "powercut", "record", *args, "-o", str(trace)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"recording {name} failed: {done.stderr[-500:]}")
    return trace


def git_on_ext4(ctx: Context) -> list[Figure]:
    trace = _record(ctx, "git-ext4", "--workload", "git", "--writes", "3", "--git-config",
                    "core.fsync=all", "--fs", "ext4")
    report = ctx.work / "git-ext4.json"
    rss, wall = measure(["explore", str(trace), "--no-cache", "--workers", "2", "--json",
                         str(report)], ctx.work)
    doc = json.loads(report.read_text())
    causes = [f"{c['kind']} {', '.join(c['roles'])}" for c in doc["causes"]]
    detail = (f"{doc['summary']['states_checked']} states checked, causes: "
              f"{'; '.join(causes) or 'none'}")
    return [Figure("8 kernel", "git core.fsync=all on ext4, explore wall", wall, " s", WALL,
                   detail),
            Figure("8 kernel", "git core.fsync=all on ext4, peak RSS", rss, " MiB", RSS)]


def materialise_share(ctx: Context) -> list[Figure]:
    trace = open_trace(_record(ctx, "etcd-ext4", "--workload", "etcd", "--fs", "ext4",
                               "--fs-size", "256M"))
    states = [s for s in Enumeration(trace, get_model("lazyfs", trace.page_size),
                                     strategy="systematic", budget=60)
              if not s.duplicate][-(6 if ctx.quick else 12):]
    target = for_workload("etcd")
    checker = OnImage(target.checker(target.checker_for(trace), trace, {}, timeout=10.0),
                      trace.fs or {})
    writes, checks = [], []
    for i, state in enumerate(states):
        where = ctx.work / f"kernel-state-{i}"
        started = time.perf_counter()
        materialise(state, where / "root")
        writes.append(time.perf_counter() - started)
        started = time.perf_counter()
        checker.check(where / "root", [], scratch=where / "check")
        checks.append(time.perf_counter() - started)
        shutil.rmtree(where)
    write, check = statistics.median(writes), statistics.median(checks)
    return [Figure("8 kernel", "materialise a 256 MiB ext4 image state, median", write * 1000,
                   " ms", detail=f"{len(states)} states of etcd's bootstrap"),
            Figure("8 kernel", "materialise / median check on the kernel", 100 * write / check,
                   " %", SHARE, f"{write * 1000:.1f} ms / {check * 1000:.0f} ms")]


def run(ctx: Context) -> list[Figure]:
    return [*materialise_share(ctx), *git_on_ext4(ctx)]
