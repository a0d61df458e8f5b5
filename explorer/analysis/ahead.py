"""Confirmations asked ahead: the checks that explain the next failing states, side by side.

Explaining a failing state by a culprit already found costs one check
(does losing the culprit's units alone fail the same way at its point?),
and the attribution asks them one state at a time: with two workers, one
waits. `ask_ahead` runs the attribution's own explanation of the next
states against an oracle that answers nothing and only notes the first
question each would put, up to the first state that no culprit found so
far can explain (it will be minimised, and what it finds may explain the
ones after it). Those questions are judged together on the pool; the
attribution then walks the same states in the same order and finds them
answered. The culprits, the order and the verdicts are those of the walk
alone; the checks spent ahead count against the analysis's budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from powercut.explorer.store.verdicts import Outcome
from powercut.replayer.models.base import Pending
from powercut.replayer.space import Lost
from powercut.replayer.state import CrashState

if TYPE_CHECKING:
    from powercut.explorer.analysis.attribute import Attributor

AHEAD = 64  # failing states looked at ahead at most


class _Asked(Exception):
    """The probe's answer: what the explanation asked first."""

    def __init__(self, requests: Sequence[tuple[Pending, Lost]]) -> None:
        super().__init__("asked")
        self.requests = list(requests)


class _Probe:
    """An oracle that judges nothing: it raises what it was asked."""

    def __init__(self, oracle: object) -> None:
        self._oracle = oracle
        self.checks = getattr(oracle, "checks", 0)

    def pending(self, point: int) -> Pending:
        return self._oracle.pending(point)  # type: ignore[attr-defined,no-any-return]

    def key(self, pending: Pending, lost: Lost) -> str:
        return self._oracle.key(pending, lost)  # type: ignore[attr-defined,no-any-return]

    def known(self, requests: Sequence[tuple[Pending, Lost]]) -> list[Outcome | None]:
        # What is already judged answers for free (a spent budget still asks it).
        return self._oracle.known(requests)  # type: ignore[attr-defined,no-any-return]

    def judge(self, requests: Sequence[tuple[Pending, Lost]]) -> list[Outcome]:
        raise _Asked(requests)


def ask_ahead(attributor: Attributor, upcoming: Sequence[tuple[CrashState, Outcome]]) -> int:
    """Judge together the first question the explanation of each of `upcoming` will ask, up
    to the first state that needs minimising; returns how many states that covered (>= 1)."""
    real = attributor.oracle
    wanted: dict[tuple[int, Lost], tuple[Pending, Lost]] = {}
    seen: set[str] = set()
    covered = 0
    attributor.oracle = _Probe(real)  # type: ignore[assignment]
    try:
        for state, outcome in upcoming[:AHEAD]:
            covered += 1
            if state.key in seen or state.key in attributor._by_key:
                continue
            seen.add(state.key)
            try:
                if attributor._explain(state, outcome) is None:
                    break  # minimised next: its culprit may explain what follows
            except _Asked as asked:
                for pending, lost in asked.requests:
                    wanted.setdefault((pending.point, lost), (pending, lost))
    finally:
        attributor.oracle = real
    requests = list(wanted.values())[:attributor._left()]
    if len(requests) > 1:  # one alone is asked as usual, when its turn comes
        before = real.checks
        real.judge(requests)
        attributor.spent += real.checks - before
    return max(1, covered)
