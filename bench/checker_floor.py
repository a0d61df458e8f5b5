"""Figure 2: the time one check costs, before (a hand-written checker) and after (`EtcdChecker`).

"Before" is `naive_checker.NaiveEtcdChecker`: default heartbeat and
election timeout, readiness by spawning `etcdctl endpoint health` every
half second, an exit noticed only after a failed probe. "After" is
powercut's `EtcdChecker`: in-process HTTP /health polling, a short
heartbeat and election timeout, an exit noticed at once. Both judge the
same states, sampled from the floor pass (`Context.floor`) among those
that recover (`ok`) and those that do not (`unrecoverable`), each on its
own fresh copy, interleaved state by state and alternating which goes
first, so drift on a shared machine hits both alike. No target was given
for these medians: the figure requires only that "after" is faster (and
that both checkers agree on every state, or the comparison means nothing).
"""

from __future__ import annotations

import statistics
import time

from bench.context import Context
from bench.figures import Figure, Target
from bench.naive_checker import NaiveEtcdChecker
from powercut.replayer.state import CrashState
from powercut.targets.etcd.checker import EtcdChecker

KINDS = ("ok", "unrecoverable")
FASTER = Target(">", 1.0)


def sample(ctx: Context, kind: str, n: int) -> list[CrashState]:
    """Up to `n` states the floor pass judged `kind`, spread over the trace."""
    states = [b.state for b in ctx.floor().bare if b.verdict == kind]
    if len(states) <= n:
        return states
    step = len(states) / n
    return [states[int(i * step)] for i in range(n)]


def _after(ctx: Context, checker: EtcdChecker, state: CrashState) -> tuple[str, float]:
    with ctx.copy_of(state) as (root, scratch):
        started = time.perf_counter()
        verdict = checker.check(root, [], scratch=scratch)
        return verdict.verdict, time.perf_counter() - started


def _before(ctx: Context, checker: NaiveEtcdChecker, state: CrashState) -> tuple[str, float]:
    with ctx.copy_of(state) as (root, scratch):
        started = time.perf_counter()
        kind = checker.check(root, scratch)
        return kind, time.perf_counter() - started


def run(ctx: Context) -> list[Figure]:
    per_kind = 3 if ctx.quick else 8
    naive = NaiveEtcdChecker(ctx.binary, ctx.trace.workload, ctx.timeout)
    figures: list[Figure] = []
    disagree = total = 0
    with ctx.checker() as checker:
        assert isinstance(checker, EtcdChecker)
        for kind in KINDS:
            times: dict[str, list[float]] = {"before": [], "after": []}
            for i, state in enumerate(sample(ctx, kind, per_kind)):
                pair = [("before", lambda s=state: _before(ctx, naive, s)),
                        ("after", lambda s=state: _after(ctx, checker, s))]
                for side, measure in pair if i % 2 == 0 else pair[::-1]:
                    got, seconds = measure()
                    times[side].append(seconds)
                    disagree += got != kind
                    total += 1
            if not times["after"]:
                continue
            before, after = statistics.median(times["before"]), statistics.median(times["after"])
            n = len(times["after"])
            figures += [
                Figure("2 checker", f"median check, {kind} states, before", before, " s",
                       detail=f"{n} states; naive etcdctl loop, default election timeout"),
                Figure("2 checker", f"median check, {kind} states, after", after, " s",
                       detail=f"{n} states; {checker.describe()}"),
                Figure("2 checker", f"speedup, {kind} states", before / after, "x", FASTER,
                       detail="before median / after median"),
            ]
    figures.append(Figure("2 checker", "checks judging a state unlike the floor pass",
                          disagree, "", Target("==", 0), f"of {total} checks, before and after"))
    return figures
