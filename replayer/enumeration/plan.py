"""How an exploration spends its budget: which crash points are exhaustive, and each one's share.

`--budget N` is the number of distinct states one exploration may check.
The plan is made from every crash point's count of legal states (exact, by
the model's `Space`), before any state is enumerated:

- `auto` (default): water-filling. The largest share `s` such that the
  points take `min(legal, s)` states each within the budget; a point whose
  legal states fit `s` is explored exhaustively, a larger one
  systematically (classes of `classes.py`, `s` states at most); whatever
  the budget has left once duplicates are merged goes to uniform random
  samples of the larger points.
- `exhaustive`: every legal state of every point; the budget is not used.
- `systematic`: classes at every point, `s` states at most each, no samples.
- `random`: `s` uniform samples at each point (seeded), no classes.

`--max-states M` caps every point's share as well. Every point gets at
least its all-kept state, even when the budget is smaller than the number
of points (the plan says so). Pure arithmetic over counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from powercut.errors import PowercutError

STRATEGIES = ("auto", "exhaustive", "systematic", "random")
DEFAULT_BUDGET = 2000


@dataclass(frozen=True)
class Plan:
    """The choice the budget made, for the report's header."""

    strategy: str
    budget: int | None  # None: unbounded (exhaustive)
    share: int | None  # states per crash point at most (None: unbounded)
    max_states: int | None
    seed: int
    points: int  # crash points planned
    exhaustive_points: int  # points whose every legal state fits their share
    legal: int  # legal states over all points
    planned: int  # states the first pass will enumerate (before dedup)
    raised: bool = False  # the budget was below one state per point

    def mode(self, legal: int) -> str:
        """How a point with `legal` states is explored: exhaustive, systematic or random."""
        if self.strategy == "random":
            return "exhaustive" if self.share is not None and legal <= 1 else "random"
        if self.strategy == "systematic":
            return "systematic"
        cap = self.cap
        return "exhaustive" if cap is None or legal <= cap else "systematic"

    @property
    def cap(self) -> int | None:
        caps = [c for c in (self.share, self.max_states) if c is not None]
        return min(caps) if caps else None

    def describe(self) -> str:
        if self.strategy == "exhaustive" or self.share is None:
            bound = f", at most {self.max_states} a point" if self.max_states else ""
            return f"{self.strategy}: every legal state of every crash point{bound}"
        if self.exhaustive_points == self.points:
            return (f"{self.strategy}, budget {self.budget} states: every crash point "
                    f"exhaustive ({self.legal} legal states in all)")
        text = (f"{self.strategy}, budget {self.budget} states: {self.exhaustive_points} of "
                f"{self.points} crash points exhaustive, the others at most {self.cap} states "
                "each")
        if self.strategy in ("auto", "random"):
            text += f", random samples seeded {self.seed}"
        if self.raised:
            text += " (the budget was below one state per crash point: each point keeps its "
            text += "all-kept state)"
        return text


def check_options(strategy: str, budget: int | None, max_states: int | None) -> None:
    if strategy not in STRATEGIES:
        raise PowercutError(f"--strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")
    if budget is not None and (not isinstance(budget, int) or budget < 1):
        raise PowercutError(f"--budget {budget!r}: must be at least 1 state")
    if max_states is not None and (not isinstance(max_states, int) or max_states < 2):
        raise PowercutError(f"--max-states {max_states!r}: must be at least 2 "
                            "(the all-kept and all-lost states of a crash point)")


def water_level(counts: Sequence[int], budget: int, floor: int = 1) -> int | None:
    """The largest share s with sum(min(c, s)) <= budget (at least `floor`); None when
    every count fits."""
    if sum(counts) <= budget:
        return None
    ordered = sorted(counts)
    used, left = 0, len(ordered)
    for c in ordered:
        # Can every remaining point take c states?
        if used + c * left > budget:
            return max(floor, (budget - used) // left)
        used += c
        left -= 1
    return None  # pragma: no cover - sum(counts) > budget returns above


def make_plan(strategy: str, counts: Sequence[int], *, budget: int | None = DEFAULT_BUDGET,
              max_states: int | None = None, seed: int = 0) -> Plan:
    """The plan for points with these legal-state counts."""
    check_options(strategy, budget, max_states)
    legal = sum(counts)
    if strategy == "exhaustive" or budget is None:
        planned = sum(min(c, max_states) if max_states else c for c in counts)
        exhaustive = sum(1 for c in counts if max_states is None or c <= max_states)
        return Plan(strategy, None, None, max_states, seed, len(counts), exhaustive, legal,
                    planned)
    share = water_level(counts, budget)
    raised = share is not None and share * len(counts) > budget and share == 1
    if share is None:
        share = max(counts, default=1)
    cap = min(share, max_states) if max_states else share
    if strategy == "random":
        planned = sum(min(c, cap) for c in counts)
        return Plan(strategy, budget, share, max_states, seed, len(counts),
                    sum(1 for c in counts if c <= 1), legal, planned, raised)
    exhaustive = sum(1 for c in counts if c <= cap) if strategy == "auto" else 0
    planned = sum(min(c, cap) for c in counts)
    return Plan(strategy, budget, share, max_states, seed, len(counts), exhaustive, legal,
                planned, raised)
