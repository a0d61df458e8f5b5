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
signature as `unexplained`, and said so. `error` verdicts are not
findings about the program and never reach here.

One failing disk is one cause. A state whose content key (tree and
markers) was already folded goes with it; so does a minimised culprit
whose own state is a disk already explained (losing the second of two
links leaves the disk of the crash between them), and an ordering whose
mirror (A kept, B lost) is such a disk: no barrier between A and B can
help when either one alone fails, the pair must be atomic. Each such fold
is kept as an `Equivalent`, so the report can say how else the disk is
reached.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from powercut.explorer.analysis import fsync_failure
from powercut.explorer.analysis.ahead import ask_ahead
from powercut.explorer.analysis.cause import Equivalent, op_key
from powercut.explorer.analysis.minimise import Asker, Culprit, Oracle, OutOfChecks, minimise
from powercut.explorer.analysis.roles import Roles
from powercut.explorer.store.verdicts import Outcome
from powercut.explorer.verdict import OpSummary
from powercut.replayer.models.base import Pending
from powercut.replayer.state import CrashState, StateName, Unit, unfold_ids

MAX_INSTANCES = 16  # culprit instances remembered per cause (points where it was confirmed)
MAX_EXAMPLES = 8
MAX_EQUIVALENTS = 8
DATA_OPS = frozenset({"write", "truncate", "fallocate"})
"""Operations whose units are a file's data or size: an fsync of that file makes them durable
under every model (a page, an append's size or garbage, a size change)."""


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
    equivalents: list[Equivalent] = field(default_factory=list)  # other ways to its disk

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


def is_data(unit: Unit, ops: list[OpSummary]) -> bool:
    """Is the unit a file's data (a page, an append's size or garbage, a size change)?"""
    return not unit.is_op or ops[unit.seq].op in DATA_OPS


def reaching(culprit: Culprit, ops: list[OpSummary]) -> OpSummary | None:
    """The namespace operation whose persisting makes the culprit's lost data matter, when its
    ordering partner is just that (data lost while the rename naming its file, or the create
    of the file that needs it, persisted): lost data with an fsync missing before that
    operation. Under `lazyfs` the operation is durable at once and the same bug has no
    partner, so it is lost data under every model, with one id."""
    if not culprit.partner or not all(is_data(u, ops) for u in culprit.essential) or \
            any(is_data(u, ops) for u in culprit.partner):
        return None
    return min((ops[u.seq] for u in culprit.partner), key=lambda op: op.seq)


def culprit_key(culprit: Culprit, ops: list[OpSummary], roles: Roles) -> tuple[object, ...]:
    """What repeated instances of one culprit share: kind, verdict, roles, the barrier's op."""
    after = ops[culprit.first_point] if culprit.first_point >= 0 else None
    if not culprit.units:
        if (failed := fsync_failure.failed_call(culprit, ops)) is not None:
            return fsync_failure.key(culprit, failed, roles)
        return ("prefix", culprit.verdict, op_key(after, roles))
    files = roles.all(u.path for u in culprit.essential)
    if culprit.partner and reaching(culprit, ops) is None:
        entries = () if any(is_data(u, ops) for u in culprit.essential) else ("entries",)
        return ("ordering", culprit.verdict, files, roles.all(u.path for u in culprit.partner),
                *entries)
    if culprit.torn is not None:
        return ("torn-write", culprit.verdict, files)
    # Lost data folds by what was lost, not by the operation that made the loss matter:
    # each commit's objects matter after another operation (the first after its
    # acknowledgement, the next ones after their link), the fix is the same fsync. Data is
    # data under every model (an append's size or garbage too), so one bug keeps one id.
    if all(is_data(u, ops) for u in culprit.essential):
        if (failed := fsync_failure.failed_sync(culprit, ops)) is not None:
            return fsync_failure.key(culprit, failed, roles)
        return ("lost-data", culprit.verdict, files)
    # A name lost is one cause whichever operation made it (a rename, a create, a link): the
    # fix is the directory's fsync, and a kernel file system, said in files, cannot tell them
    # apart; so a model's cause and the kernel's keep one id (`in_files`).
    return ("lost-namespace", culprit.verdict, files)


class Attributor:
    """Folds failing states into `Group`s, asking `oracle` when it must."""

    def __init__(self, oracle: Oracle, ops: list[OpSummary], *, per_cause: int,
                 total: int, roles: Roles | None = None) -> None:
        self.oracle = oracle
        self.ops = ops
        self.roles = roles if roles is not None else Roles(ops)
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
        ahead = 0
        for n, (state, outcome) in enumerate(ordered):
            if n >= ahead:  # the next explanations' checks, side by side (see `ahead`)
                ahead = n + ask_ahead(self, ordered[n:])
            group = self._by_key.get(state.key)
            if group is not None:
                self._note_same_disk(group, state)
            else:
                group = self._explain(state, outcome) or self._minimise(state, outcome)
            group.add(state, outcome)
            self._by_key.setdefault(state.key, group)
        return list(self.groups.values())

    def _note_same_disk(self, group: Group, state: CrashState) -> None:
        """A state that loses only namespace operations, none of the culprit's own, and leaves
        a disk the group already explains at another point: another way to that disk, worth
        saying once."""
        ids = unfold_ids(state.name.lost)
        if not ids or len(group.equivalents) >= MAX_EQUIVALENTS or any(
                not uid.startswith("#") for uid in ids):
            return
        ops = tuple(dict.fromkeys(self.ops[int(uid[1:].partition(".")[0])] for uid in ids))
        culprit = group.culprit
        if any(op.op in DATA_OPS for op in ops) or culprit is None or \
                state.point == culprit.point or set(culprit.ids) & set(ids) or any(
                    e.state.point == state.point or e.ops == ops for e in group.equivalents):
            return
        group.equivalents.append(Equivalent("lost", state.name, ops))

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
        return self._explain_by_role(state, outcome)

    def _explain_by_role(self, state: CrashState, outcome: Outcome) -> Group | None:
        """A culprit whose instance this state loses at its own point: for each core unit of
        the culprit, a lost unit playing the same role (the next commit's ref rename, the
        next fan-out `mkdir`), confirmed by one check. Spares a minimisation per instance."""
        pending = self.oracle.pending(state.point)
        lost = pending.resolve(state.name.lost)
        for group in list(self.groups.values()):
            if group.culprit is None or not group.culprit.units or \
                    group.verdict != outcome.verdict:
                continue
            analog = self._analog(group.culprit, [pending.units[i] for i in lost])
            if analog is not None and analog != frozenset(group.culprit.ids) and \
                    self._confirm(group, state.point, analog, outcome.verdict):
                return group
        return None

    def _role_of(self, unit: Unit) -> tuple[str, str]:
        """What a unit's loss is, by role: data of a file, or a (piece of an) operation."""
        what = "data" if is_data(unit, self.ops) else f"{self.ops[unit.seq].op}.{unit.piece}"
        return what, self.roles.of(unit.path)

    def _analog(self, culprit: Culprit, lost: list[Unit]) -> frozenset[str] | None:
        """For each core unit of `culprit`, the latest of `lost` in the same role; None if one
        has none."""
        chosen: list[Unit] = []
        for unit in culprit.essential:
            role = self._role_of(unit)
            candidates = [u for u in lost if u not in chosen and self._role_of(u) == role]
            if not candidates:
                return None
            chosen.append(max(candidates, key=lambda u: (u.seq, u.id)))
        return frozenset(u.id for u in chosen)

    def _confirm(self, group: Group, point: int, ids: frozenset[str], kind: str) -> bool:
        """Does losing the culprit's units (alone) fail the same way at `point`?"""
        ask = self._ask()
        try:
            pending = self.oracle.pending(point)
            try:
                units = pending.resolve(sorted(ids)) if ids else frozenset()
            except Exception:  # not all pending there
                return False
            lost = pending.space.lose(frozenset(), units)
            fails = ask.fails(pending, lost, kind)
        except OutOfChecks:
            return False
        finally:
            self.spent += ask.spent
            group.checks += ask.spent
        if fails:
            self._by_key.setdefault(self.oracle.key(pending, lost), group)
            if len(group.instances) < MAX_INSTANCES:
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
        same = self._same_disk(pending, culprit, ask)
        if same is not None:
            return same
        key = culprit_key(culprit, self.ops, self.roles)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, culprit)
        group.checks += ask.spent
        after = self.ops[culprit.first_point] if culprit.first_point >= 0 else None
        group.afters.setdefault(op_key(after, self.roles), culprit.first_point)
        if len(group.instances) < MAX_INSTANCES:
            group.instances.append((culprit.point, frozenset(culprit.ids)))
        if culprit.units:
            lost = pending.resolve(culprit.ids)
            self._by_key.setdefault(self.oracle.key(pending, lost), group)
        return group

    def _same_disk(self, pending: Pending, culprit: Culprit, ask: Asker) -> Group | None:
        """The group whose disk the culprit leaves (or, for an ordering, its mirror leaves),
        with the equivalence recorded; None when the disk is a new one."""
        if not culprit.units:
            return None
        lost = pending.resolve(culprit.ids)
        group = self._by_key.get(self.oracle.key(pending, lost))
        how, ops = "lost", tuple(dict.fromkeys(self.ops[u.seq] for u in culprit.essential))
        if (group is None or group.verdict != culprit.verdict) and culprit.partner:
            mirror = pending.space.lose(frozenset(), pending.resolve(u.id for u in
                                                                    culprit.partner))
            group = self._by_key.get(self.oracle.key(pending, mirror))
            how = "reordered"
            ops += tuple(dict.fromkeys(self.ops[u.seq] for u in culprit.partner))
        if group is None or group.verdict != culprit.verdict:
            return None
        group.checks += ask.spent
        if len(group.equivalents) < MAX_EQUIVALENTS:
            name = StateName.of(culprit.point, culprit.ids)
            if all(e.state != name and (e.how, e.ops) != (how, ops) for e in group.equivalents):
                group.equivalents.append(Equivalent(how, name, ops))
        return group

    def _by_role(self, state: CrashState, outcome: Outcome) -> Group | None:
        """A culprit whose every role this state loses and whose signature it shows."""
        pending = self.oracle.pending(state.point)
        lost_roles = set(self.roles.all(pending.units[i].path
                                        for i in pending.resolve(state.name.lost)))
        for group in self.groups.values():
            culprit = group.culprit
            if culprit is None or not culprit.units or group.verdict != outcome.verdict or \
                    outcome.signature not in group.signatures:
                continue
            if set(self.roles.all(u.path for u in culprit.essential)) <= lost_roles:
                return group
        return None

    def _unexplained(self, outcome: Outcome) -> Group:
        key = ("unexplained", outcome.verdict, outcome.signature)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, None)
        return group
