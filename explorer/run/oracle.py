"""The analysis's oracle: judge named crash states through the exploration's own pool.

Minimising a failing state asks for states the enumeration may not have
produced. The oracle builds each from its crash point's `Pending` (from
`Replays`: minimisation stays near one point, then moves on, and a point
is replayed from the nearest run already under way), answers from the
verdicts already known (this exploration, its journal, the results cache)
and checks the rest in parallel on the pool, each stored like any other
verdict. `checks` counts real checker runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from powercut.explorer.run.pool import POLL, Pool
from powercut.explorer.store.verdicts import Outcome, VerdictBook
from powercut.replayer.models.base import Pending, PersistenceModel, StateImage
from powercut.replayer.replays import Replays
from powercut.replayer.space import Lost
from powercut.replayer.state import CrashState
from powercut.trace import Trace


class PoolOracle:
    """Judges states for the analysis with an exploration's pool and verdict book."""

    def __init__(self, trace: Trace, model: PersistenceModel, pool: Pool, book: VerdictBook,
                 markers: Callable[[int], str] | None = None) -> None:
        self.trace = trace
        self.model = model
        self.pool = pool
        self.book = book
        self.markers = markers
        self.checks = 0
        self._replays = Replays(trace, model)
        self._next = 0

    def pending(self, point: int) -> Pending:
        return self._replays.pending(point)

    def state(self, pending: Pending, lost: Lost) -> CrashState:
        """The crash state of `pending`'s point that loses `lost`, keyed as the exploration's."""
        markers = self.markers(pending.point) if self.markers is not None else ""
        return CrashState(pending.point, pending.name(lost), pending.key(lost), markers,
                          class_="named", lost=lost, image=StateImage(pending, lost))

    def key(self, pending: Pending, lost: Lost) -> str:
        return self.state(pending, lost).key

    def known(self, requests: Sequence[tuple[Pending, Lost]]) -> list[Outcome | None]:
        """The outcomes of these states already known, checking none (None: not known)."""
        out: list[Outcome | None] = []
        for pending, lost in requests:
            key = self.key(pending, lost)
            outcome = self.book.outcome(key)
            if outcome is None and self.book.known(key) is not None:
                outcome = self.book.outcome(key)
            out.append(outcome)
        return out

    def judge(self, requests: Sequence[tuple[Pending, Lost]], *, full: bool = False
              ) -> list[Outcome]:
        """The outcomes of these states, checked if not known (`full`: checked again at the
        full timeout whatever is known)."""
        states = [self.state(p, lost) for p, lost in requests]
        keys = [s.key for s in states]
        wanted: dict[str, CrashState] = {}
        for state in states:
            key = state.key
            if key in wanted:
                continue
            if not full and (self.book.outcome(key) is not None or
                             self.book.known(key) is not None):
                continue
            wanted[key] = state
        for state in wanted.values():
            while self.pool.running >= self.pool.capacity:
                self.pool.collect(POLL)
            self.pool.submit(self._next, state, full=full)
            self._next += 1
            self.checks += 1
        while self.pool.running:
            self.pool.collect(POLL)
        out = []
        for key in keys:
            outcome = self.book.outcome(key)
            out.append(outcome if outcome is not None else Outcome("error", "not judged"))
        return out
