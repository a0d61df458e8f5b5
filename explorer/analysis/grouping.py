"""Group the failing crash states of an exploration into vulnerabilities.

Pure: reads an `Exploration` (states, verdicts, crash points, ops) and
returns `Vulnerability` values; it never runs a program or reads a file.
Every failing state lands in exactly one vulnerability, and a passing state
in none. The rules, applied to each failing state in order:

1. `data-loss`, `hang`, `error` verdicts are grouped by what they share.
   Data loss whose state lost unsynced pages is grouped by the files those
   pages belong to (the cause: acknowledging before the fsync of that file,
   however many keys it costs); other data loss by the missing acknowledged
   keys (evidence `missing`), or the signature; hangs and errors by signature.
2. An unrecoverable state is an **atomicity** failure of write w when it
   keeps some but not all of w's pending pages, and keeping all of them or
   none of them (the rest unchanged) gives a state judged `ok`: tearing w
   alone explains it. States torn on a write that explains other states,
   but not explained alone (torn twice), join that write's vulnerability.
3. Otherwise, if it kept a page of a write b while losing a page of an
   earlier write a, it is an **ordering** failure of (a, b).
4. Otherwise (nothing kept, an in-order prefix kept, or everything kept) it
   is a **durability** failure: the program cannot restart from what was
   durable after the ops up to that point; grouped by signature.
"""

from __future__ import annotations

from collections import defaultdict

from powercut.explorer.analysis.evidence import (
    UNSYNCED,
    EvidenceBuilder,
    GroupKey,
    missing_keys,
)
from powercut.explorer.analysis.index import StateIndex, kept_pages
from powercut.explorer.analysis.vulnerability import DEFAULT_LAZYFS_ROOT, Vulnerability, sort_key
from powercut.explorer.verdict import Exploration, Judged


def find_vulnerabilities(
    exploration: Exploration,
    *,
    lazyfs_root: str = DEFAULT_LAZYFS_ROOT,
    replay_to: str = "crash-state",
) -> list[Vulnerability]:
    """The vulnerabilities of `exploration`, most severe first."""
    states = StateIndex(exploration)
    groups: dict[GroupKey, list[int]] = defaultdict(list)
    torn_later: list[tuple[int, list[int]]] = []
    for i, judged in enumerate(exploration.judged):
        verdict = judged.verdict
        if not verdict.failing:
            continue
        if verdict.kind != "unrecoverable":
            groups[_other_key(states, judged)].append(i)
            continue
        torn = states.torn_writes(judged.state)
        explained = [w for w in torn if states.tearing_explains(judged.state, w)]
        if explained:
            groups[("atomicity", min(explained))].append(i)
        elif torn:
            torn_later.append((i, torn))
        else:
            groups[_structural_key(states, judged)].append(i)
    # Second pass: a state torn on several writes belongs with a write whose
    # tearing is already known to break the program, if there is one.
    for i, torn in torn_later:
        known = [w for w in torn if ("atomicity", w) in groups]
        judged = exploration.judged[i]
        key = ("atomicity", min(known)) if known else _structural_key(states, judged)
        groups[key].append(i)
    builder = EvidenceBuilder(states, lazyfs_root, replay_to)
    vulns = [builder.build(key, sorted(indices)) for key, indices in groups.items()]
    return sorted(vulns, key=sort_key)


def _other_key(index: StateIndex, judged: Judged) -> GroupKey:
    verdict = judged.verdict
    if verdict.kind == "data-loss":
        lost = index.pending(judged.state.point) - kept_pages(judged.state.kept)
        if lost:
            return ("data-loss", UNSYNCED, tuple(sorted({path for path, _ in lost})))
        keys = tuple(sorted(set(missing_keys(verdict))))
        return ("data-loss", keys) if keys else ("data-loss", (), verdict.signature)
    return (verdict.kind, verdict.signature)


def _structural_key(index: StateIndex, judged: Judged) -> GroupKey:
    """Ordering (a, b) when a later write's page was kept and an earlier one's lost."""
    state = judged.state
    kept = kept_pages(state.kept)
    lost = index.pending(state.point) - kept
    writes = index.write_pages(state.point)
    lost_w = sorted(s for s, pages in writes.items() if pages & lost)
    kept_w = sorted(s for s, pages in writes.items() if pages & kept)
    pairs = [(a, b) for a in lost_w for b in kept_w if b > a]
    if not pairs:
        return ("durability", judged.verdict.signature)
    # Prefer the pair whose single change repairs the state: persisting
    # `a` or dropping `b`; the earliest such a and latest such b.
    fixing_a = [a for a, _ in pairs if index.passes(state.point, kept | writes[a])]
    a = min(fixing_a) if fixing_a else pairs[0][0]
    later = [b for x, b in pairs if x == a]
    fixing_b = [b for b in later if index.passes(state.point, kept - writes[b])]
    b = max(fixing_b) if fixing_b else max(later)
    return ("ordering", a, b)
