"""Root causes a maintainer can act on: each failing state minimised to its culprit, then folded.

`find_causes` takes the failing states of an exploration, explains or
minimises each one by asking the checker (through an `Oracle`, see
`minimise`), folds the culprits by kind, file role and the operation the
missing barrier must precede (`attribute`), and builds one `RootCause`
per culprit with its barrier, evidence and reproducers (`build`). `error`
verdicts (the tool or the checker failed) are never causes: they are
counted apart by signature.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from powercut.explorer.analysis.attribute import Attributor, Group
from powercut.explorer.analysis.build import Context, build
from powercut.explorer.analysis.cause import RootCause, SignatureCount, sort_key
from powercut.explorer.analysis.minimise import Oracle
from powercut.explorer.store.verdicts import Outcome, VerdictBook
from powercut.replayer.state import CrashState

__all__ = ["DEFAULT_CAUSE_BUDGET", "FINDINGS", "Analysis", "Context", "RootCause",
           "checker_errors", "find_causes"]

DEFAULT_CAUSE_BUDGET = 64  # checks one cause's minimisation may spend
FINDINGS = ("unrecoverable", "data-loss", "hang")


@dataclass
class Analysis:
    """The root causes of an exploration, the errors apart, and what finding them cost.

    `analysed` is False when the failing states were never minimised (the
    exploration was interrupted, or no analysis was asked for): `why_not`
    says why, and no report may then call the exploration clean.
    """

    causes: list[RootCause] = field(default_factory=list)
    errors: list[SignatureCount] = field(default_factory=list)  # broken checks, by signature
    checks: int = 0  # checker runs the minimisation spent
    cause_budget: int = DEFAULT_CAUSE_BUDGET
    analysed: bool = True
    why_not: str = ""  # "interrupted", "paused", "not asked"

    @classmethod
    def skipped(cls, why: str, cause_budget: int = DEFAULT_CAUSE_BUDGET) -> Analysis:
        return cls(cause_budget=cause_budget, analysed=False, why_not=why)


def find_causes(judged: Callable[[], Iterable[tuple[CrashState, Outcome]]], ctx: Context,
                oracle: Oracle, *, cause_budget: int = DEFAULT_CAUSE_BUDGET,
                total_budget: int | None = None) -> Analysis:
    """The root causes of the failing states `judged()` streams (see the module docstring)."""
    failing = [(state, outcome) for state, outcome in judged() if outcome.verdict in FINDINGS]
    total = total_budget if total_budget is not None else max(256, 8 * cause_budget)
    attributor = Attributor(oracle, ctx.ops, per_cause=cause_budget, total=total,
                            roles=ctx.roles)
    groups = attributor.run(failing)
    causes = [_room(c, groups, attributor.spent, total, cause_budget, total_budget is None)
              for c in build(groups, ctx)]
    causes.sort(key=sort_key)
    return Analysis(causes, checker_errors(judged, ctx.book), attributor.spent, cause_budget)


def _room(cause: RootCause, groups: list[Group], spent: int, total: int, cause_budget: int,
          by_cause_budget: bool) -> RootCause:
    """An `unexplained` cause says what budget would have explained it: the checks spent so
    far and one whole minimisation (at most `cause_budget` checks) more for each group left
    (the analysis gets eight causes' worth of checks, at least 256)."""
    if cause.kind != "unexplained":
        return cause
    needed = spent + max(1, cause_budget) * sum(1 for g in groups if g.culprit is None)
    room = f"--cause-budget {max(cause_budget + 1, math.ceil(needed / 8))}" if by_cause_budget \
        else f"an analysis budget of {needed} checks"
    sig = cause.signatures[0].signature if cause.signatures else "no signature"
    barrier = (f"not known: the analysis spent its {total} checks before these "
               f"{cause.failing} failing states ({sig}) were minimised; {room} gives it room "
               "for them")
    return dataclasses.replace(cause, barrier=barrier)


def checker_errors(judged: Callable[[], Iterable[tuple[CrashState, Outcome]]],
                   book: VerdictBook) -> list[SignatureCount]:
    """The states whose check broke, by signature, with one excerpt each (no checks run)."""
    errors: Counter[str] = Counter()
    error_keys: dict[str, str] = {}
    for state, outcome in judged():
        if outcome.verdict == "error":
            errors[outcome.signature] += 1
            error_keys.setdefault(outcome.signature, state.key)
    error_list = []
    for signature, count in errors.most_common():
        verdict = book.full(error_keys[signature])
        excerpt = "" if verdict is None else verdict.excerpt or verdict.log_tail[-2000:]
        error_list.append(SignatureCount(signature, count, excerpt, "error"))
    return error_list
