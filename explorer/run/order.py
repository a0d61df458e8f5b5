"""What the driver knows about a trace before checking: op summaries, markers, likely failures.

Pure functions over the trace's operations. `TraceFacts.scan` reads the
ops once (without keeping any payload), and `priority` ranks a crash state
by how likely it is to show a root cause first: the all-kept state of each
crash point (a program that cannot recover from a complete prefix), then a
multi-page write torn between kept and lost pages, a unit lost alone, the
first write of a new file. Ranking only changes the order of checking,
never what is checked or reported; this module must never do I/O besides
reading the trace.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgpack

from powercut.explorer.verdict import OpSummary
from powercut.replayer.state import CrashState, unfold_ids
from powercut.trace import Op

TORN_WRITE, FIRST_WRITE, OTHER = 0, 1, 2
# Classes of states (see the replayer's `classes`), most telling first.
CLASS_RANK = {"all-kept": 0, "named": 0, "torn-write": 1, "one-lost": 2, "exhaustive": 3,
              "all-lost": 3, "one-kept": 4, "pair": 4, "random": 5}


def summarise(op: Op) -> OpSummary:
    """An op without its payload, as the reports show it."""
    return OpSummary(
        seq=op.seq, op=op.op, pid=op.pid, path=op.path if op.path is not None else op.src,
        dst=op.dst, offset=op.offset,
        length=len(op.data) if op.data is not None else op.length if op.length is not None
        else op.size,
        datasync=op.datasync, text=op.text, errno=op.errno)


@dataclass(frozen=True)
class WriteAt:
    """A write op reduced to what ranking needs."""

    path: str
    first_page: int
    last_page: int
    first_of_file: bool


@dataclass
class TraceFacts:
    ops: list[OpSummary] = field(default_factory=list)
    markers: list[Op] = field(default_factory=list)
    writes: dict[int, WriteAt] = field(default_factory=dict)
    _seqs: list[int] = field(default_factory=list, repr=False)
    _digests: list[str] = field(default_factory=lambda: ["markers"], repr=False)

    @classmethod
    def scan(cls, ops: Iterable[Op], page_size: int) -> TraceFacts:
        facts = cls()
        fresh: set[str] = set()  # files created and not yet written
        for op in ops:
            facts.ops.append(summarise(op))
            if op.op == "marker":
                facts.markers.append(op)
            elif op.op == "create":
                fresh.add(op.path or "")
            elif op.op == "rename" and op.src in fresh:
                fresh.discard(op.src)
                fresh.add(op.dst or "")
            elif op.op == "write" and op.data:
                path = op.path or ""
                offset = op.offset or 0
                facts.writes[op.seq] = WriteAt(
                    path, offset // page_size, (offset + len(op.data) - 1) // page_size,
                    path in fresh)
                fresh.discard(path)
        return facts

    def markers_before(self, point: int) -> list[Op]:
        """Markers recorded up to and including op `point` (the crash is after it)."""
        return self.markers[:self._marker_count(point)]

    def markers_digest(self, point: int) -> str:
        """A digest of the markers before `point`: what a marker-reading checker is told.

        Chained over each marker's seq, text and fields, so two traces whose
        states share a tree share a verdict only if they acknowledged the same.
        """
        count = self._marker_count(point)
        if len(self._digests) <= count:
            for m in self.markers[len(self._digests) - 1:count]:
                record = msgpack.packb([m.seq, m.text, sorted(m.extra.items())],
                                       use_bin_type=True, default=str)
                self._digests.append(hashlib.sha256(self._digests[-1].encode() + record)
                                     .hexdigest()[:32])
        return self._digests[count]

    def _marker_count(self, point: int) -> int:
        if len(self._seqs) != len(self.markers):
            self._seqs = [m.seq for m in self.markers]
        return bisect.bisect_right(self._seqs, point)

    def priority(self, state: CrashState) -> tuple[int, int]:
        """(class rank, TORN_WRITE / FIRST_WRITE / OTHER): lower is checked sooner. A state
        that loses nothing ranks first whatever its class: it shows a complete prefix the
        program cannot recover from (and a hang there is confirmed early)."""
        if not state.name.lost:
            return 0, OTHER
        return CLASS_RANK.get(state.class_, len(CLASS_RANK)), self._write_rank(state)

    def _write_rank(self, state: CrashState) -> int:
        write = self.writes.get(state.point)
        if write is None:
            return OTHER
        pages = write.last_page - write.first_page + 1
        if pages > 1 and state.name.lost:
            prefix = f"{write.path}:"
            lost = sum(1 for uid in unfold_ids(u for u in state.name.lost if u.startswith(prefix))
                       if write.first_page <= int(uid.rpartition(":")[2]) <= write.last_page)
            if 0 < lost < pages:
                return TORN_WRITE
        return FIRST_WRITE if write.first_of_file else OTHER
