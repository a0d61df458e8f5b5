"""Figure 11: three models in one run, over their lazyfs run plus the checks only the others add.

ZooKeeper's trace (of the two the issue names, the one whose runs are
shorter here: 141 distinct lazyfs states against PostgreSQL's 600) is
explored under lazyfs, ext4-ordered and alice in turn, as `powercut
explore --model lazyfs,ext4-ordered,alice --no-cache` does: one `Memo`
shared by the three, each exploration with a journal of its own and no
cache, at most `BUDGET` distinct states a model (the run stays within
minutes; at 300 lazyfs still explores all its 241 legal states).

The floor is the lazyfs exploration's own wall time plus the checks only
the weaker models add, over the workers: the bare check of every
enumerated state they checked themselves (as figure 1's floor: each at the
deadline its exploration gave it, one after the other), their
minimisation's checks (states the enumeration did not name, so not
rebuilt here: each at the median of those bare checks; a budget this
small leaves alice much to minimise) and one full timeout per hang cause
lazyfs does not have. The three explorations' wall over it must be at
most 1.5. The checker gets the default timeout even with `--quick`: a
JVM starting on a loaded machine may take 3 s. Before: the same three
explorations sharing nothing (the engine without a memo, as a library
caller without one journal had it: each model checks every distinct state
it meets), over the same floor. Both runs must give every state the same
verdict.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.context import Context
from bench.figures import Figure, Target
from powercut.explorer.checkers import DEFAULT_TIMEOUT
from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import explore
from powercut.explorer.store.memo import Memo

TRACE = "zookeeper"
MODELS = ("lazyfs", "ext4-ordered", "alice")
BUDGET, QUICK_BUDGET = 300, 150
TARGET = Target("<=", 1.5)


@dataclass(frozen=True)
class Explored:
    """One model's exploration in a three-model run, timed."""

    model: str
    wall: float
    exploration: Exploration


def run(ctx: Context) -> list[Figure]:
    budget = QUICK_BUDGET if ctx.quick else BUDGET
    timeout = max(ctx.timeout, DEFAULT_TIMEOUT)
    memo = Memo()
    after = _three(ctx, budget, timeout, memo)
    lazyfs, weaker = after[0], after[1:]
    bare = [b for e in weaker for b in ctx.bare(TRACE, e.model, e.exploration,
                                                _checked_by(memo, e.exploration), timeout)]
    median = statistics.median(b.seconds for b in bare) if bare else 0.0
    minimising = sum(e.exploration.analysis.checks for e in weaker)
    known = {c.id for c in lazyfs.exploration.causes}
    hangs = sum(1 for e in weaker for c in e.exploration.causes if c.id not in known and
                c.verdict == "hang" and c.hang.startswith("confirmed"))
    workers = lazyfs.exploration.workers
    extra = (sum(b.seconds for b in bare) + minimising * median + hangs * timeout) / workers
    floor = lazyfs.wall + extra
    before = _three(ctx, budget, timeout, None)
    walls = [sum(e.wall for e in run) for run in (after, before)]
    pairs = [(_verdicts(a.exploration), _verdicts(b.exploration))
             for a, b in zip(after, before, strict=True)]
    unlike = sum(len(set(a.items()) - set(b.items())) for a, b in pairs)

    def counts(run: list[Explored]) -> str:
        return "; ".join(f"{e.model} {e.wall:.0f} s, {e.exploration.distinct} distinct, "
                         f"{e.exploration.checked} checked, {e.exploration.shared} shared, "
                         f"{e.exploration.analysis.checks} minimising" for e in run)

    return [
        Figure("11 models run", f"three models / (lazyfs + the others' checks), {TRACE}, before",
               walls[1] / floor, "x", None, f"sharing nothing: {walls[1]:.0f} s; "
               f"{counts(before)}"),
        Figure("11 models run", f"three models / (lazyfs + the others' checks), {TRACE}",
               walls[0] / floor, "x", TARGET,
               f"{walls[0]:.0f} s over {floor:.0f} s = lazyfs {lazyfs.wall:.0f} s + ("
               f"{len(bare)} bare checks + {minimising} minimising at the median "
               f"{median:.2f} s + {hangs} hang cause(s) x {timeout:g} s) / {workers}; "
               f"{counts(after)}; budget {budget}"),
        Figure("11 models run", "verdicts unlike the run sharing nothing", unlike, "",
               Target("==", 0), f"of {sum(len(a) for a, _ in pairs)} states in 3 models"),
    ]


def _three(ctx: Context, budget: int, timeout: float, memo: Memo | None) -> list[Explored]:
    """The trace explored under each model in turn, each timed, sharing `memo`."""
    out = []
    with ctx.checker(TRACE, timeout) as checker:  # made before any clock starts, as the CLI
        for model in MODELS:
            started = time.monotonic()
            e = explore(ctx.open(TRACE), checker, model, workers=max(ctx.workers),
                        budget=budget, workdir=ctx.work, memo=memo)
            out.append(Explored(model, time.monotonic() - started, e))
            ctx.keep(e)
    return out


def _checked_by(memo: Memo, e: Exploration) -> Callable[[str], bool]:
    """Whether `e` checked the state itself (rather than take another model's verdict)."""
    return lambda key: memo.where(key) is e.book.journal


def _verdicts(e: Exploration) -> dict[str, str]:
    return {j.state.key: j.outcome.verdict for j in e.iter_judged()}
