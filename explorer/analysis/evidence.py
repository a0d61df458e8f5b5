"""Turn one group of failing states into a `Vulnerability` with its evidence.

The analysis (`analysis.py`) decides which failing states belong together;
this module measures the group (page subsets, signatures, crash points),
picks its smallest reproducing state and builds its reproducers. Pure: no
processes, no files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from powercut.explorer.analysis.index import StateIndex, kept_pages, state_size
from powercut.explorer.analysis.vulnerability import (
    LazyFSFault,
    SignatureCount,
    Vulnerability,
    clear_fault,
    describe_op,
    replay_command,
    torn_op_fault,
)
from powercut.explorer.verdict import Judged, OpSummary, Verdict
from powercut.replayer.state import CrashState

GroupKey = tuple[object, ...]
"""What a group of failing states shares, e.g. ("atomicity", 8) or ("hang", signature)."""

UNSYNCED = "unsynced"  # ("data-loss", UNSYNCED, files): lost with unsynced pages of files


def signature_counts(judged: list[Judged], indices: Iterable[int]) -> tuple[SignatureCount, ...]:
    counts: Counter[tuple[str, str]] = Counter()
    excerpt: dict[tuple[str, str], str] = {}
    for i in indices:
        verdict = judged[i].verdict
        key = (verdict.signature, verdict.kind)
        counts[key] += 1
        if not excerpt.get(key):
            excerpt[key] = verdict.excerpt or verdict.log_tail[-2000:]
    return tuple(
        SignatureCount(sig, n, excerpt[(sig, kind)], kind)
        for (sig, kind), n in counts.most_common()
    )


def broken_members(judged: list[Judged], indices: Iterable[int]) -> tuple[str, ...]:
    """Members (evidence `members`: name -> verdict kind) not `ok` in any of the states."""
    broken: set[str] = set()
    for i in indices:
        members = judged[i].verdict.evidence.get("members")
        if isinstance(members, dict):
            broken.update(str(name) for name, kind in members.items() if kind != "ok")
    return tuple(sorted(broken))


@dataclass
class EvidenceBuilder:
    """Turns one group of failing states into a `Vulnerability`."""

    ctx: StateIndex
    lazyfs_root: str
    replay_to: str

    def build(self, key: GroupKey, indices: list[int]) -> Vulnerability:
        judged = self.ctx.exploration.judged
        states = [judged[i].state for i in indices]
        smallest = min(states, key=state_size)
        points = tuple(sorted({s.point for s in states}))
        kind = str(key[0])
        common = {
            "signatures": signature_counts(judged, indices),
            "members": broken_members(judged, indices),
            "points": points,
            "states": tuple(indices),
            "smallest": smallest,
            "replay": replay_command(
                self.ctx.exploration.trace,
                smallest,
                self.replay_to,
                model=self.ctx.exploration.model,
                page_size=self.ctx.exploration.page_size,
            ),
        }
        if kind == "atomicity":
            return self._atomicity(int(key[1]), states, common)  # type: ignore[call-overload]
        fault, why_not = self._lazyfs_for(sorted(states, key=state_size))
        first = self.ctx.ops.get(points[0])
        at = f"{plural(len(indices), 'state')} at {plural(len(points), 'crash point')}"
        after = f"first after op #{points[0]} ({describe_op(first)})"
        op, ops, verdict, missing = first, (first,) if first else (), "unrecoverable", ()
        if kind == "ordering":
            a, b = (self.ctx.ops.get(int(seq)) for seq in key[1:3])  # type: ignore[call-overload]
            op, ops = a, tuple(o for o in (a, b) if o is not None)
            summary = (
                f"write #{key[2]} ({describe_op(b)}) reached the disk while earlier "
                f"write #{key[1]} ({describe_op(a)}) did not: {at} unrecoverable"
            )
        elif kind == "durability":
            summary = self._durability_summary(smallest, points[0], at)
            ops += tuple(o for o in self._lost_writes(smallest) if o not in ops)
        elif kind == "data-loss" and key[1] == UNSYNCED:
            op, verdict = None, "data-loss"
            missing = tuple(dict.fromkeys(k for i in indices
                                          for k in missing_keys(judged[i].verdict)))
            files = ", ".join(str(f) for f in key[2])  # type: ignore[union-attr]
            lost = plural(len(missing), "acknowledged key") if missing else "acknowledged data"
            summary = (
                f"{lost} lost with unsynced pages of {files}: each crash falls after an "
                f"acknowledgement and before the fsync that makes it durable "
                f"({_some(missing) + '; ' if missing else ''}{at}, {after})"
            )
            ops += tuple(o for o in self._lost_writes(smallest) if o not in ops)
        elif kind == "data-loss":
            op, verdict = None, "data-loss"
            missing = tuple(str(k) for k in key[1])  # type: ignore[union-attr]
            lost = (
                f"acknowledged keys missing after recovery: {_some(missing)}"
                if missing
                else ("acknowledged data changed or missing after recovery")
            )
            summary = f"{lost} ({at}, {after})"
        elif kind == "hang":
            op, verdict = None, "hang"
            summary = f"no answer within the checker's timeout: {at}, {after}"
        else:
            op, verdict = None, "error"
            summary = f"the checker could not judge {at}: {key[1] or 'no detail'}"
        total = sum(len(self.ctx.judged_at[p]) for p in points)
        return Vulnerability(
            kind,  # type: ignore[arg-type]
            verdict,
            summary,
            op,
            ops,
            len(indices),
            total,
            missing=missing,
            lazyfs=fault,
            lazyfs_why_not=why_not,
            **common,
        )

    def _lost_writes(self, state: CrashState, limit: int = 4) -> tuple[OpSummary, ...]:
        """The first writes whose pages `state` lost: what the program relied on unsynced."""
        lost = self.ctx.pending(state.point) - kept_pages(state.kept)
        writes = self.ctx.write_pages(state.point)
        seqs = sorted(seq for seq, pages in writes.items() if pages & lost)[:limit]
        return tuple(self.ctx.ops[seq] for seq in seqs if seq in self.ctx.ops)

    def _durability_summary(self, smallest: CrashState, point: int, at: str) -> str:
        op = self.ctx.ops.get(point)
        if not smallest.kept:
            return (
                f"losing every unsynced page leaves it unrecoverable, "
                f"from op #{point} ({describe_op(op)}) on: {at}"
            )
        if not self.ctx.pending(smallest.point) - kept_pages(smallest.kept):
            return (
                f"a crash after op #{point} ({describe_op(op)}) leaves it unrecoverable "
                f"even with every page persisted: {at}"
            )
        return (
            f"losing the last unsynced writes leaves it unrecoverable, "
            f"from op #{point} ({describe_op(op)}) on: {at}"
        )

    def _atomicity(self, seq: int, states: list[CrashState], common: dict) -> Vulnerability:
        ctx = self.ctx
        write = ctx.ops[seq]
        mine = {(s.point, s.kept) for s in states}
        failing: set[tuple[int, ...]] = set()
        passing: set[tuple[int, ...]] = set()
        every: set[tuple[int, ...]] = set()
        write_pages: set[int] = set()
        points = ctx.pending_at[seq]
        for judged in (j for point in points for j in ctx.judged_at[point]):
            state = judged.state
            pages = ctx.write_pages(state.point)[seq]
            write_pages |= {page for _, page in pages}
            subset = tuple(sorted(page for path, page in kept_pages(state.kept) & pages))
            every.add(subset)
            if (state.point, state.kept) in mine:
                failing.add(subset)
            elif judged.verdict.kind == "ok":
                passing.add(subset)
        passing -= failing
        verdict = "unrecoverable"
        summary = (
            f"write #{seq}, {write.length} B at {write.offset} of {write.path}: "
            f"{len(failing)} of {len(every)} page subsets {verdict}"
        )
        fault = self._torn_fault(write, sorted(states, key=state_size))
        return Vulnerability(
            "atomicity",
            verdict,
            summary,
            write,
            (write,),
            len(failing),
            len(every),
            lazyfs=fault,
            write_pages=tuple(sorted(write_pages)),
            failing_subsets=tuple(sorted(failing, key=lambda s: (len(s), s))),
            passing_subsets=tuple(sorted(passing, key=lambda s: (len(s), s))),
            **common,
        )

    def _torn_fault(self, write: OpSummary, states: list[CrashState]) -> LazyFSFault:
        """Tear `write` as the smallest failing state LazyFS can leave exactly, or approximately."""
        for state in states:
            fault = self._torn_fault_exact(state)
            if fault is not None and fault.exact:
                return fault
        state = states[0]
        pages = self.ctx.write_pages(state.point)[write.seq]
        kept = tuple(sorted(page for _, page in kept_pages(state.kept) & pages))
        note = (
            f"approximate: the smallest failing state is at crash point {state.point}; "
            f"LazyFS crashes right after write #{write.seq}"
        )
        return torn_op_fault(
            self.ctx.exploration.ops,
            write,
            kept,
            self.ctx.exploration.page_size,
            self.lazyfs_root,
            point=state.point,
            kept=state.kept,
            exact=False,
            note=note,
        )

    def _torn_fault_exact(self, state: CrashState) -> LazyFSFault | None:
        """A torn-op fault when `state` kept only pages of the write it crashed right after."""
        ctx = self.ctx
        write = ctx.ops.get(state.point)
        pages = ctx.write_pages(state.point).get(state.point)
        kept = kept_pages(state.kept)
        if write is None or write.op != "write" or not pages or not kept <= pages:
            return None
        cp = ctx.points[state.point]
        # LazyFS persists only this write's bytes of a part; a page that also
        # held older unsynced bytes of another write would differ.
        shared = [u for u in cp.units if (u.path, u.page) in pages and u.writes != (write.seq,)]
        note = "" if not shared else "pages also hold older unsynced writes; LazyFS drops those"
        return torn_op_fault(
            ctx.exploration.ops,
            write,
            tuple(sorted(p for _, p in kept)),
            ctx.exploration.page_size,
            self.lazyfs_root,
            point=state.point,
            kept=state.kept,
            exact=not shared,
            note=note,
        )

    def _lazyfs_for(self, states: list[CrashState]) -> tuple[LazyFSFault | None, str]:
        """A LazyFS fault for the smallest state it can reproduce, or why none fits."""
        why_not = ""
        for state in states:
            if not state.kept:
                fault, reason = clear_fault(self.ctx.exploration.ops, state.point, self.lazyfs_root)
            else:
                fault = self._torn_fault_exact(state)
                reason = (
                    "LazyFS cannot keep this set of pages: its faults tear one write "
                    "or drop everything unsynced"
                )
            if fault is not None:
                return fault, ""
            why_not = why_not or reason
        return None, why_not


def missing_keys(verdict: Verdict) -> list[str]:
    """The acknowledged keys a data-loss verdict names (evidence `missing`), in its order.

    A checker may name a key plainly or as {"key": ..., "value": ...}.
    """
    missing = verdict.evidence.get("missing") or ()
    if isinstance(missing, str | bytes):
        missing = (missing,)
    return [str(k["key"]) if isinstance(k, Mapping) and "key" in k else str(k) for k in missing]


def _some(keys: tuple[str, ...], shown: int = 5) -> str:
    return ", ".join(keys[:shown]) + (" …" if len(keys) > shown else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
