"""The pending units at any crash point, replayed forward from the nearest run under way.

`pending_at` replays a trace from its first op to one point. Asked for
many points in an order that mostly rises (a Dask worker given states in
the driver's priority order, the analysis minimising cause after cause),
that is quadratic in the trace's length. `Replays` keeps a few model runs
paused where they last stopped and advances the nearest one before the
point asked for, so each run replays every op at most once; a point
behind every run starts a new one (the least recently used is dropped).
The last few points asked for are remembered. A `Pending` stays valid
after its run moves on (the enumeration relies on the same), so it is
safe to hand out. One lock serialises the runs: callers may be threads.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from powercut.replayer.enumeration import check_points
from powercut.replayer.models.base import Pending, PersistenceModel
from powercut.replayer.state import BEFORE_FIRST
from powercut.trace import Trace

RUNS = 4  # model runs kept paused
KEEP = 8  # points remembered


@dataclass
class _Run:
    at: int = BEFORE_FIRST - 1  # the last point this run stopped at
    target: int = BEFORE_FIRST
    used: int = 0
    points: Iterator[Pending] | None = field(default=None, repr=False)


class Replays:
    """`pending(point)` for one trace under one model."""

    def __init__(self, trace: Trace, model: PersistenceModel, *, runs: int = RUNS,
                 keep: int = KEEP) -> None:
        self.trace = trace
        self.model = model
        self.runs_kept = max(1, runs)
        self.keep = max(1, keep)
        self.replayed = 0  # crash points a run passed through (a measure of the work done)
        self._runs: list[_Run] = []
        self._kept: collections.OrderedDict[int, Pending] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._clock = 0

    def pending(self, point: int) -> Pending:
        check_points([point], self.trace.op_count)
        with self._lock:
            found = self._kept.get(point)
            if found is not None:
                self._kept.move_to_end(point)
                return found
            run = self._run_before(point)
            run.target = point
            assert run.points is not None
            try:
                found = next(run.points)
            except BaseException:
                self._runs.remove(run)  # a run that raised cannot go on
                raise
            self.replayed += point - run.at
            run.at = point
            self._kept[point] = found
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
            return found

    def _run_before(self, point: int) -> _Run:
        """The run stopped nearest before `point`, or a new one from the start."""
        self._clock += 1
        behind = [r for r in self._runs if r.at < point]
        if behind:
            run = max(behind, key=lambda r: r.at)
        else:
            run = _Run()
            run.points = self.model.crash_points(self.trace, lambda p, r=run: p == r.target)
            if len(self._runs) >= self.runs_kept:
                self._runs.remove(min(self._runs, key=lambda r: r.used))
            self._runs.append(run)
        run.used = self._clock
        return run
