"""Lookups over one exploration that the analysis rules ask again and again.

`StateIndex` answers, without re-scanning: which op has this seq, which
pages are pending at a crash point and which writes dirtied them, and what
verdict a given (point, kept pages) state got. Pure and read-only: it never
changes the exploration it indexes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from powercut.explorer.verdict import Exploration, Judged, OpSummary
from powercut.replayer.state import CrashPoint, CrashState, Kept, kept_from_mapping

Page = tuple[str, int]
"""A pending page: (path at the crash point, page number)."""


@dataclass
class StateIndex:
    """Lookups over one exploration: ops by seq, pending pages, verdicts by state."""

    exploration: Exploration

    @cached_property
    def ops(self) -> dict[int, OpSummary]:
        return {op.seq: op for op in self.exploration.ops}

    @cached_property
    def points(self) -> dict[int, CrashPoint]:
        return {cp.seq: cp for cp in self.exploration.crash_points}

    @cached_property
    def verdicts(self) -> dict[tuple[int, Kept], str]:
        found: dict[tuple[int, Kept], str] = {}
        for judged in self.exploration.judged:
            found.setdefault((judged.state.point, judged.state.kept), judged.verdict.kind)
        return found

    @cached_property
    def judged_at(self) -> dict[int, list[Judged]]:
        """Crash point -> its judged states, in enumeration order."""
        found: dict[int, list[Judged]] = defaultdict(list)
        for judged in self.exploration.judged:
            found[judged.state.point].append(judged)
        return found

    @cached_property
    def pending_at(self) -> dict[int, list[int]]:
        """Write seq -> the crash points where some page it dirtied is pending."""
        found: dict[int, list[int]] = defaultdict(list)
        for point, writes in self._write_pages.items():
            for seq in writes:
                found[seq].append(point)
        return found

    @cached_property
    def _write_pages(self) -> dict[int, dict[int, frozenset[Page]]]:
        """Per crash point: write seq -> the pending pages it dirtied."""
        table: dict[int, dict[int, frozenset[Page]]] = {}
        for cp in self.exploration.crash_points:
            pages: dict[int, set[Page]] = defaultdict(set)
            for unit in cp.units:
                if unit.kind == "page":
                    for seq in unit.writes:
                        pages[seq].add((unit.path, unit.page))
            table[cp.seq] = {seq: frozenset(p) for seq, p in pages.items()}
        return table

    def write_pages(self, point: int) -> dict[int, frozenset[Page]]:
        return self._write_pages.get(point, {})

    def pending(self, point: int) -> frozenset[Page]:
        cp = self.points.get(point)
        if cp is None:
            return frozenset()
        return frozenset((u.path, u.page) for u in cp.units if u.kind == "page")

    def torn_writes(self, state: CrashState) -> list[int]:
        """Writes of which `state` kept some pending pages but not all."""
        kept = kept_pages(state.kept)
        return sorted(
            seq
            for seq, pages in self.write_pages(state.point).items()
            if len(pages) > 1 and 0 < len(pages & kept) < len(pages)
        )

    def tearing_explains(self, state: CrashState, seq: int) -> bool:
        kept = kept_pages(state.kept)
        pages = self.write_pages(state.point)[seq]
        return self.passes(state.point, kept | pages) or self.passes(state.point, kept - pages)

    def passes(self, point: int, kept: Iterable[Page]) -> bool:
        return self.verdicts.get((point, as_kept(kept))) == "ok"


def kept_pages(kept: Kept) -> frozenset[Page]:
    return frozenset((path, page) for path, pages in kept for page in pages)


def as_kept(pages: Iterable[Page]) -> Kept:
    by_path: dict[str, list[int]] = defaultdict(list)
    for path, page in pages:
        by_path[path].append(page)
    return kept_from_mapping(by_path)


def state_size(state: CrashState) -> tuple[int, int]:
    return (sum(len(pages) for _, pages in state.kept), state.point)
