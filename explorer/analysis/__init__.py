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

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from powercut.explorer.analysis.attribute import Attributor
from powercut.explorer.analysis.build import Context, build
from powercut.explorer.analysis.cause import RootCause, SignatureCount, sort_key
from powercut.explorer.analysis.minimise import Oracle
from powercut.explorer.store.verdicts import Outcome
from powercut.replayer.state import CrashState

__all__ = ["DEFAULT_CAUSE_BUDGET", "Analysis", "Context", "RootCause", "find_causes"]

DEFAULT_CAUSE_BUDGET = 64  # checks one cause's minimisation may spend
FINDINGS = ("unrecoverable", "data-loss", "hang")


@dataclass
class Analysis:
    """The root causes of an exploration, the errors apart, and what finding them cost."""

    causes: list[RootCause] = field(default_factory=list)
    errors: list[SignatureCount] = field(default_factory=list)  # broken checks, by signature
    checks: int = 0  # checker runs the minimisation spent
    cause_budget: int = DEFAULT_CAUSE_BUDGET


def find_causes(judged: Callable[[], Iterable[tuple[CrashState, Outcome]]], ctx: Context,
                oracle: Oracle, *, cause_budget: int = DEFAULT_CAUSE_BUDGET,
                total_budget: int | None = None) -> Analysis:
    """The root causes of the failing states `judged()` streams (see the module docstring)."""
    failing: list[tuple[CrashState, Outcome]] = []
    errors: Counter[str] = Counter()
    error_keys: dict[str, str] = {}
    for state, outcome in judged():
        if outcome.verdict in FINDINGS:
            failing.append((state, outcome))
        elif outcome.verdict == "error":
            errors[outcome.signature] += 1
            error_keys.setdefault(outcome.signature, state.key)
    total = total_budget if total_budget is not None else max(256, 8 * cause_budget)
    attributor = Attributor(oracle, ctx.ops, per_cause=cause_budget, total=total)
    groups = attributor.run(failing)
    causes = sorted(build(groups, ctx), key=sort_key)
    error_list = []
    for signature, count in errors.most_common():
        verdict = ctx.book.full(error_keys[signature])
        excerpt = "" if verdict is None else verdict.excerpt or verdict.log_tail[-2000:]
        error_list.append(SignatureCount(signature, count, excerpt, "error"))
    return Analysis(causes, error_list, attributor.spent, cause_budget)
