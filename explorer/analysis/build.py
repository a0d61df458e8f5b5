"""Turn the groups of `attribute` into `RootCause`s: barrier, summary, evidence, reproducers.

Reads what the groups point at: the operations, the full verdicts of a few
states (from the journal: excerpts, lost keys, a checker's own fields) and, for a
torn write, the states of its crash points (which page subsets fail and
which pass). It runs no program.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from powercut.explorer.analysis import fsync_failure
from powercut.explorer.analysis.attribute import Group, is_data, reaching
from powercut.explorer.analysis.cause import (
    RootCause,
    SignatureCount,
    TornWrite,
    cause_id,
    describe_op,
    describe_role,
)
from powercut.explorer.analysis.lazyfs import (
    DEFAULT_LAZYFS_ROOT,
    LazyFSFault,
    clear_fault,
    torn_op_fault,
)
from powercut.explorer.analysis.roles import Roles
from powercut.explorer.store.verdicts import Outcome, VerdictBook
from powercut.explorer.verdict import OpSummary
from powercut.replayer.replay import replay_command
from powercut.replayer.state import CrashState, StateName, unfold_ids

MAX_KEYS_READ = 64  # full verdicts read per cause for its evidence (lost keys, fields)


@dataclass
class Context:
    """What building a cause needs to know about its exploration."""

    trace: str
    model: str
    page_size: int
    ops: list[OpSummary]
    book: VerdictBook
    units_at: Mapping[int, int]  # crash point -> number of pending units
    judged: Callable[[], Iterable[tuple[CrashState, Outcome]]]
    trace_page_size: int = 4096  # the trace's own: a replay names another model's
    prefix: bool = False  # the trace was read up to its valid prefix (`--prefix`)
    replay_to: str = "crash-state"
    lazyfs_root: str = DEFAULT_LAZYFS_ROOT
    fsync_failure: str = "keep"  # the model's rule for a failed fsync (see its `failure`)
    roles: Roles = field(default_factory=Roles)  # of this trace: see `__post_init__`

    def __post_init__(self) -> None:
        if not self.roles.children:  # not given: decided from the whole trace here
            self.roles = Roles(self.ops)


def replay(ctx: Context, name: StateName) -> str:
    """The `powercut replay` command line that materialises the state `name`."""
    return replay_command(ctx.trace, name, ctx.model, ctx.page_size,
                          trace_page_size=ctx.trace_page_size, prefix=ctx.prefix,
                          fsync_failure=ctx.fsync_failure, to=ctx.replay_to)


def _other_afters(group: Group, ctx: Context, first: OpSummary | None) -> str:
    """The other operations before which later instances of the cause matter, if any."""
    seqs = sorted(s for s in group.afters.values() if first is None or s != first.seq)
    if not seqs:
        return ""
    shown = [describe_role(ctx.ops[s], ctx.roles) if s >= 0 else "the start" for s in seqs[:2]]
    more = f" and {len(seqs) - 2} more" if len(seqs) > 2 else ""
    return f" (later instances: before {'; '.join(shown)}{more})"


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _some(keys: tuple[str, ...], shown: int = 5) -> str:
    return ", ".join(keys[:shown]) + (" …" if len(keys) > shown else "")


def build(groups: list[Group], ctx: Context) -> list[RootCause]:
    torn = _torn_subsets(groups, ctx)
    return [_cause(g, ctx, torn.get(id(g))) for g in groups]


def _evidence(group: Group, ctx: Context) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The acknowledged keys lost and each checker field's values, over the group's states."""
    missing: dict[str, None] = {}
    fields: dict[str, set[str]] = {}
    for key in group.keys[:MAX_KEYS_READ]:
        verdict = ctx.book.full(key)
        if verdict is None:
            continue
        missing.update(dict.fromkeys(m.key for m in verdict.evidence.missing))
        for name, values in verdict.evidence.fields.items():
            fields.setdefault(name, set()).update(values)
    return tuple(missing), {name: tuple(sorted(v)) for name, v in sorted(fields.items())}


def _signatures(group: Group, ctx: Context) -> tuple[SignatureCount, ...]:
    out = []
    for signature, count in group.signatures.most_common():
        verdict = ctx.book.full(group.sample_keys[signature])
        excerpt = "" if verdict is None else verdict.excerpt or verdict.log_tail[-2000:]
        out.append(SignatureCount(signature, count, excerpt, group.verdict))
    return tuple(out)


def _cause(group: Group, ctx: Context, torn: TornWrite | None) -> RootCause:
    ops = ctx.ops
    culprit = group.culprit
    points = tuple(sorted(group.points))
    missing, fields = _evidence(group, ctx)
    where = f"{_plural(group.failing, 'failing state')} at {_plural(len(points), 'crash point')}"
    if group.unchecked:
        where += (f", {group.unchecked} of them folded in by role and signature once the "
                  "cause budget was spent")
    kind = str(group.key[0])
    if culprit is None:  # unexplained: the budget of checks ran out
        name = group.examples[0]
        return RootCause(
            cause_id(group.key), kind, group.verdict, (), (), (), None,
            "not known: the budget of checks ran out before these states were minimised "
            "(raise --cause-budget)", f"{group.verdict}: {group.key[2] or 'no detail'} ({where})",
            points, group.failing, name, replay(ctx, name), _signatures(group, ctx),
            missing=missing, fields=fields, checks=group.checks, minimal=False,
            examples=tuple(group.examples), models=(ctx.model,),
            unchecked=group.unchecked)
    name = StateName.of(culprit.point, culprit.ids)
    after = ops[culprit.first_point] if culprit.first_point >= 0 else None
    files = ctx.roles.all(u.path for u in culprit.essential)
    partner_files = ctx.roles.all(u.path for u in culprit.partner)
    culprit_ops = tuple(dict.fromkeys(ops[u.seq] for u in culprit.essential))
    own = {o.seq for o in culprit_ops}
    if kind == "lost-data" and culprit.partner:  # lost while the op naming its file persisted
        after = reaching(culprit, ops) or after
        culprit_ops += (after,) if after is not None and after not in culprit_ops else ()
        partner_files = ()
    lazyfs, why_not = _lazyfs(group, ctx, torn)
    if kind == "prefix" and after is not None and after.op == "marker":
        barrier, summary = _acknowledged_early(after, ops, group.verdict, where)
    elif kind == "prefix":
        moment = "before the first operation" if after is None else \
            f"right after op #{culprit.first_point} ({describe_op(after)})"
        barrier = (f"make a crash {moment} recoverable: the program must cope with every "
                   "operation before it durable and nothing after it")
        summary = (f"a crash {moment} leaves it {group.verdict}"
                   f"{' even with every pending unit persisted' if after else ''} ({where})")
    elif kind == "torn-write" and culprit.torn is not None:
        write = ops[culprit.torn]
        pages = len(torn.pages) if torn else 0
        barrier = (f"persist all {pages} pages of write #{write.seq} ({describe_op(write)}) "
                   "atomically: write to a new file and rename it, or make a torn write "
                   "detectable and recover from it")
        counts = f"{len(torn.failing)} of {len(torn.failing) + len(torn.passing)} page subsets" \
            if torn else where
        summary = f"write #{write.seq}, {write.length} B at {write.offset} of {write.path}: " \
                  f"{counts} {group.verdict}"
        culprit_ops = (write,)
    elif kind == "ordering":
        partner_ops = tuple(dict.fromkeys(ops[u.seq] for u in culprit.partner))
        first_b = partner_ops[0]
        before = describe_role(first_b, ctx.roles)
        if any(is_data(u, ops) for u in culprit.essential):
            barrier = f"fsync {', '.join(files)} before {before}"
        else:  # a lost entry: only an fsync of its directory makes it durable
            dirs = ctx.roles.all(_parent(u.path) for u in culprit.essential)
            lost_ops = ", ".join(describe_role(o, ctx.roles) for o in culprit_ops)
            barrier = (f"fsync the directory {', '.join(d or '(the mount root)' for d in dirs)} "
                       f"after {lost_ops} and before {before}")
        summary = (f"{', '.join(files)} lost while the later {', '.join(partner_files)} "
                   f"persisted ({where})")
        culprit_ops += partner_ops
        after = first_b
    elif kind == fsync_failure.KIND and (failed := fsync_failure.failed_call(culprit, ops)):
        barrier, summary = fsync_failure.words(failed, after, ", ".join(files), _some(missing),
                                               where)
        culprit_ops += (failed,)
    elif kind == "lost-namespace":
        dirs = ctx.roles.all(_parent(u.path) for u in culprit.essential)
        target = "the directory " + ", ".join(d or "(the mount root)" for d in dirs)
        before = f"acknowledging ({after.text!r})" if after is not None and \
            after.op == "marker" else describe_role(after, ctx.roles)
        lost_ops = ", ".join(describe_role(o, ctx.roles) for o in culprit_ops)
        barrier = f"fsync {target} after {lost_ops} and before {before}"
        summary = (f"{lost_ops} lost{': ' + _some(missing) if missing else ''} ({where}, first "
                   f"after op #{culprit.first_point}: {describe_op(after)})")
    else:
        target = ", ".join(files)
        others = _other_afters(group, ctx, after)
        if after is not None and after.op == "marker":
            barrier = f"fsync {target} before acknowledging ({after.text!r}){others}"
        elif after is not None and after.seq in own:
            barrier = f"fsync {target} as soon as op #{after.seq} makes it pending: " \
                      "losing it breaks recovery at once"
        else:
            barrier = f"fsync {target} before {describe_role(after, ctx.roles)}{others}"
        lost = _plural(len(missing), "acknowledged key") if missing else "data"
        summary = (f"{lost} lost with pending units of {target}"
                   f"{': ' + _some(missing) if missing else ''} ({where}, first after op "
                   f"#{culprit.first_point}: {describe_op(after)})")
    return RootCause(
        cause_id(group.key), kind, group.verdict, files, partner_files, culprit_ops,
        after, barrier, summary, points, group.failing, name, replay(ctx, name),
        _signatures(group, ctx), lazyfs, why_not, torn, missing, fields, group.checks,
        culprit.complete, tuple(group.examples), (ctx.model,), unchecked=group.unchecked,
        equivalent_states=tuple(group.equivalents))


def _acknowledged_early(ack: OpSummary, ops: list[OpSummary], verdict: str,
                        where: str) -> tuple[str, str]:
    """The barrier and summary of a complete prefix that fails right after an
    acknowledgement: the data was not even written yet, so no fsync could have saved it."""
    write = next((o for o in ops[ack.seq + 1:] if o.op == "write"), None)
    first = f"its first write after it: op #{write.seq}, {describe_op(write)}" \
        if write is not None else "no write follows it"
    barrier = (f"write and fsync the acknowledged data before acknowledging: the "
               f"acknowledgement {ack.text!r} (op #{ack.seq}) came before that data reached "
               f"the file system at all ({first}), so no fsync could have saved it")
    summary = (f"a crash right after the acknowledgement at op #{ack.seq} leaves it {verdict} "
               f"even with every operation before it persisted ({where})")
    return barrier, summary


def _lazyfs(group: Group, ctx: Context, torn: TornWrite | None
            ) -> tuple[LazyFSFault | None, str]:
    """A LazyFS fault for a failing state of the group that LazyFS can leave, or why none."""
    if torn is not None:
        exact = [s for s in torn.failing if s]  # LazyFS keeps parts and drops the rest
        subset = min(exact or torn.failing, key=len)
        note = "" if group.culprit is None or group.culprit.point == torn.write.seq else (
            "approximate: LazyFS crashes right after the write, dropping every other "
            "pending page")
        return torn_op_fault(ctx.ops, torn.write, subset, ctx.page_size, ctx.lazyfs_root,
                             exact=not note, note=note), ""
    why = "LazyFS cannot leave any of these states: its faults tear one write or drop "
    why += "everything pending right after an operation"
    for name in group.examples:
        lost = unfold_ids(name.lost)
        if len(lost) == ctx.units_at.get(name.point, -1) and all(
                not uid.startswith("#") for uid in lost):
            fault, reason = clear_fault(ctx.ops, name.point, ctx.lazyfs_root)
            if fault is not None:
                return fault, ""
            why = reason
    return None, why


def _torn_subsets(groups: list[Group], ctx: Context) -> dict[int, TornWrite]:
    """For each torn-write group: which kept subsets of the write's pages fail, which pass."""
    wanted = {}
    for g in groups:
        if g.culprit is not None and g.culprit.torn is not None:
            write = ctx.ops[g.culprit.torn]
            first = (write.offset or 0) // ctx.page_size
            last = ((write.offset or 0) + max(1, write.length or 0) - 1) // ctx.page_size
            wanted[id(g)] = (g, write, tuple(range(first, last + 1)))
    if not wanted:
        return {}
    found: dict[int, tuple[set[tuple[int, ...]], set[tuple[int, ...]]]] = {
        k: (set(), set()) for k in wanted}
    for state, outcome in ctx.judged():
        for k, (g, write, pages) in wanted.items():
            if state.point not in g.points:
                continue
            prefix = f"{write.path}:"
            lost = {int(uid.rpartition(":")[2]) for uid in unfold_ids(
                s for s in state.name.lost if s.startswith(prefix))}
            kept = tuple(p for p in pages if p not in lost)
            if outcome.verdict == g.verdict:
                found[k][0].add(kept)
            elif outcome.verdict == "ok":
                found[k][1].add(kept)
    def order(subsets: set[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
        return tuple(sorted(subsets, key=lambda s: (len(s), s)))

    return {k: TornWrite(write, pages, order(found[k][0]), order(found[k][1] - found[k][0]))
            for k, (_, write, pages) in wanted.items()}
