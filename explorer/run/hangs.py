"""Hangs decided early: how long a state may take before it is a *suspected* hang.

A state that never recovers costs the full `--timeout` (10 s) to judge,
while the same program recovers in a fraction of a second elsewhere in the
same trace. `Deadlines` learns from this exploration how long recoveries
take (the checks that ended with a verdict other than a hang) and gives
later checks `FACTOR` times the typical one (the median: one check slowed
by a busy machine must not stretch every later deadline), at least
`FLOOR`, at most the timeout. A hang decided that early is marked `inferred` in its evidence;
before the report, the driver confirms each hang cause once at the full
timeout (`confirm`), and if it recovers there, judges that cause's states
again at the full timeout. Nothing is decided early until one check has
finished, and `early=False` (`--full-hangs`) turns it all off.
"""

from __future__ import annotations

import bisect
import dataclasses
import statistics
import threading

from powercut.explorer.verdict import Verdict

FACTOR = 10.0
FLOOR = 1.0
KEEP = 4096  # durations remembered (halved when full)


class Deadlines:
    """The deadline a check gets now, learned from the verdicts so far (thread-safe)."""

    def __init__(self, timeout: float, *, early: bool = True) -> None:
        self.timeout = timeout
        self.early = early
        self._durations: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float | None:
        """Seconds a check may take, or None for the checker's full timeout."""
        with self._lock:
            if not self.early or not self._durations:
                return None
            typical = statistics.median(self._durations)
        return min(self.timeout, max(FLOOR, FACTOR * typical))

    def typical(self) -> float | None:
        """The median duration of the checks that ended on their own, if any did."""
        with self._lock:
            return statistics.median(self._durations) if self._durations else None

    def observe(self, verdict: Verdict) -> None:
        """Learn from a verdict: a check that ended on its own says how long checks take."""
        if verdict.verdict in ("hang", "error") or verdict.duration <= 0:
            return
        with self._lock:
            bisect.insort(self._durations, verdict.duration)
            if len(self._durations) > KEEP:
                del self._durations[::2]  # a sorted sample stays sorted, its median close


def mark(verdict: Verdict, limit: float | None, timeout: float) -> Verdict:
    """A hang judged at a deadline shorter than the timeout is only inferred: say so."""
    if verdict.verdict != "hang" or limit is None or limit >= timeout:
        return verdict
    return dataclasses.replace(verdict, evidence=dataclasses.replace(
        verdict.evidence, inferred=True, deadline=round(limit, 3)))


def inferred(verdict: Verdict | None) -> bool:
    return verdict is not None and verdict.verdict == "hang" and bool(
        verdict.evidence.inferred)
