"""Fold failing states into culprits: explain each by a culprit found before, or minimise it.

Failing states are taken all-kept first (a failing complete prefix
explains everything failing alike after it), then by crash point, fewest
lost units first. A state is explained by a culprit when it loses at
least the culprit's units and losing just those fails the same way at its
own crash point (one check, usually answered from what the exploration
already judged); otherwise it is minimised (`minimise`), within the
budget of checks per cause and overall. Once the budget is spent, a state
still goes with a culprit whose roles it loses and whose signature it
shows (counted as `unchecked`); what is left is grouped by verdict and
signature as `unexplained`, and said so. States with a key
already folded go with it. `error` verdicts are not findings about the
program and never reach here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from powercut.explorer.analysis.cause import op_key
from powercut.explorer.analysis.minimise import Asker, Culprit, Oracle, OutOfChecks, minimise
from powercut.explorer.analysis.roles import roles
from powercut.explorer.store.verdicts import Outcome
from powercut.explorer.verdict import OpSummary
from powercut.replayer.state import CrashState, StateName, unfold_ids

MAX_INSTANCES = 16  # culprit instances remembered per cause (points where it was confirmed)
MAX_EXAMPLES = 8


@dataclass
class Group:
    """Failing states folded into one culprit key, as they are found."""

    key: tuple[object, ...]
    culprit: Culprit | None  # None for `unexplained`
    instances: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    points: set[int] = field(default_factory=set)
    failing: int = 0
    signatures: Counter[str] = field(default_factory=Counter)
    sample_keys: dict[str, str] = field(default_factory=dict)  # signature -> a state key
    keys: list[str] = field(default_factory=list)  # failing state keys (for evidence)
    examples: list[StateName] = field(default_factory=list)
    afters: dict[tuple[str, ...], int] = field(default_factory=dict)  # op key -> first seq
    checks: int = 0
    unchecked: int = 0  # states folded in by role and signature once the budget was spent

    @property
    def verdict(self) -> str:
        return str(self.key[1])

    def add(self, state: CrashState, outcome: Outcome) -> None:
        self.failing += 1
        self.points.add(state.point)
        self.signatures[outcome.signature] += 1
        self.sample_keys.setdefault(outcome.signature, state.key)
        self.keys.append(state.key)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(state.name)


def culprit_key(culprit: Culprit, ops: list[OpSummary]) -> tuple[object, ...]:
    """What repeated instances of one culprit share: kind, verdict, roles, the barrier's op."""
    after = ops[culprit.first_point] if culprit.first_point >= 0 else None
    if not culprit.units:
        return ("prefix", culprit.verdict, op_key(after))
    files = roles(u.path for u in culprit.units)
    if culprit.partner:
        return ("ordering", culprit.verdict, files, roles(u.path for u in culprit.partner))
    if culprit.torn is not None:
        return ("torn-write", culprit.verdict, files)
    # Lost units fold by what was lost, not by the operation that made the loss matter:
    # each commit's objects matter after another operation (the first after its
    # acknowledgement, the next ones after their link), the fix is the same fsync.
    if all(not u.is_op for u in culprit.units):
        return ("lost-data", culprit.verdict, files)
    kinds = tuple(sorted({ops[u.seq].op for u in culprit.units if u.is_op}))
    return ("lost-namespace", culprit.verdict, files, kinds)


class Attributor:
    """Folds failing states into `Group`s, asking `oracle` when it must."""

    def __init__(self, oracle: Oracle, ops: list[OpSummary], *, per_cause: int,
                 total: int) -> None:
        self.oracle = oracle
        self.ops = ops
        self.per_cause = per_cause
        self.total = total
        self.groups: dict[tuple[object, ...], Group] = {}
        self._by_key: dict[str, Group] = {}
        self.spent = 0

    def _left(self) -> int:
        return max(0, min(self.per_cause, self.total - self.spent))

    def run(self, failing: Iterable[tuple[CrashState, Outcome]]) -> list[Group]:
        ordered = sorted(failing, key=lambda so: (bool(so[0].name.lost), so[0].point,
                                                  len(unfold_ids(so[0].name.lost))))
        for state, outcome in ordered:
            group = self._by_key.get(state.key) or self._explain(state, outcome) or \
                self._minimise(state, outcome)
            group.add(state, outcome)
            self._by_key.setdefault(state.key, group)
        return list(self.groups.values())

    def _ask(self) -> Asker:
        return Asker(self.oracle, self._left())

    def _explain(self, state: CrashState, outcome: Outcome) -> Group | None:
        lost = frozenset(unfold_ids(state.name.lost))
        for group in self.groups.values():
            if group.culprit is None or group.verdict != outcome.verdict:
                continue
            ids = frozenset(group.culprit.ids)
            if not ids <= lost:
                continue
            if any(point == state.point and inst <= lost for point, inst in group.instances):
                return group
            if self._confirm(group, state.point, ids, outcome.verdict):
                return group
        return None

    def _confirm(self, group: Group, point: int, ids: frozenset[str], kind: str) -> bool:
        """Does losing the culprit's units (alone) fail the same way at `point`?"""
        ask = self._ask()
        try:
            pending = self.oracle.pending(point)
            try:
                units = pending.resolve(sorted(ids)) if ids else frozenset()
            except Exception:  # not all pending there
                return False
            fails = ask.fails(pending, pending.space.lose(frozenset(), units), kind)
        except OutOfChecks:
            return False
        finally:
            self.spent += ask.spent
            group.checks += ask.spent
        if fails and len(group.instances) < MAX_INSTANCES:
            group.instances.append((point, ids))
        return fails

    def _minimise(self, state: CrashState, outcome: Outcome) -> Group:
        if self._left() <= 0:
            group = self._by_role(state, outcome)
            if group is not None:
                group.unchecked += 1
                return group
            return self._unexplained(outcome)
        ask = self._ask()
        pending = self.oracle.pending(state.point)
        culprit = minimise(ask, pending, pending.resolve(state.name.lost), outcome.verdict)
        self.spent += ask.spent
        key = culprit_key(culprit, self.ops)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, culprit)
        group.checks += ask.spent
        after = self.ops[culprit.first_point] if culprit.first_point >= 0 else None
        group.afters.setdefault(op_key(after), culprit.first_point)
        if len(group.instances) < MAX_INSTANCES:
            group.instances.append((culprit.point, frozenset(culprit.ids)))
        return group

    def _by_role(self, state: CrashState, outcome: Outcome) -> Group | None:
        """A culprit whose every role this state loses and whose signature it shows."""
        lost_roles = set(roles(self._path(uid) for uid in unfold_ids(state.name.lost)))
        for group in self.groups.values():
            culprit = group.culprit
            if culprit is None or not culprit.units or group.verdict != outcome.verdict or \
                    outcome.signature not in group.signatures:
                continue
            if set(roles(u.path for u in culprit.units)) <= lost_roles:
                return group
        return None

    def _path(self, uid: str) -> str:
        """The path a unit id is about (an op's own path for `#SEQ` units)."""
        if uid.startswith("#"):
            op = self.ops[int(uid[1:].partition(".")[0])]
            return op.path or ""
        return uid.rpartition(":")[0]

    def _unexplained(self, outcome: Outcome) -> Group:
        key = ("unexplained", outcome.verdict, outcome.signature)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, None)
        return group
