"""`crash_states`: a hypothesis strategy over the legal crash states of a recorded trace.

A state is drawn as a crash point (from the points asked for, in order:
hypothesis shrinks toward the first) and one boolean per pending unit
("lost?", shrinking toward False); the drawn units are then closed under
the model's constraints (`Space.lose`: whatever cannot persist without a
lost unit is lost too), so every example is a state the model allows and
fewer drawn units always mean fewer lost. `CrashCase` is what a test gets:
the state's name and key, its markers, `materialise(path)`, and a repr
that is the `powercut replay` command rebuilding it.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from powercut.replayer.materialise import Materialised, materialise
from powercut.replayer.models import get_model
from powercut.replayer.models.base import Pending, PersistenceModel, StateImage
from powercut.replayer.replay import pending_at, replay_command
from powercut.replayer.state import CrashState, StateName
from powercut.trace import Op, Trace, open_trace

KEEP_POINTS = 16


@dataclass(frozen=True, eq=False)
class CrashCase:
    """One drawn crash state of a trace, ready to materialise and check."""

    trace: Trace
    model: PersistenceModel
    state: CrashState
    markers: tuple[Op, ...] = field(repr=False)

    @property
    def point(self) -> int:
        return self.state.point

    @property
    def name(self) -> StateName:
        return self.state.name

    @property
    def key(self) -> str:
        return self.state.key

    def materialise(self, target: Path | str) -> Materialised:
        """Write the state into `target` (an empty or new directory)."""
        return materialise(self.state, target)

    def replay_command(self, to: str = "crash-state") -> str:
        return replay_command(str(self.trace.path), self.name, self.model.name,
                              self.model.page_size, trace_page_size=self.trace.page_size,
                              prefix=self.trace.status == "truncated", to=to)

    def __repr__(self) -> str:
        lost = "; ".join(self.name.lost) or "nothing"
        return f"CrashCase(point {self.point}, lost {lost}: {self.replay_command()})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How hypothesis prints a falsifying example: the repr, not every field."""
        printer.text(repr(self))


class _Points:
    """The pending units of the points drawn so far (a few kept: replays are not free)."""

    def __init__(self, trace: Trace, model: PersistenceModel) -> None:
        self.trace = trace
        self.model = model
        self._kept: collections.OrderedDict[int, Pending] = collections.OrderedDict()
        self._markers = [op for op in trace.ops() if op.op == "marker"]

    def pending(self, point: int) -> Pending:
        found = self._kept.get(point)
        if found is None:
            found = self._kept[point] = pending_at(self.trace, self.model, point)
            while len(self._kept) > KEEP_POINTS:
                self._kept.popitem(last=False)
        return found

    def markers(self, point: int) -> tuple[Op, ...]:
        return tuple(m for m in self._markers if m.seq <= point)


def crash_states(trace: Trace | Path | str, model: str = "lazyfs", points: Iterable[int] |
                 None = None, *, page_size: int | None = None) -> st.SearchStrategy[CrashCase]:
    """Legal crash states of `trace` under `model`, at `points` (default: every crash point)."""
    opened = trace if isinstance(trace, Trace) else open_trace(trace)
    chosen = get_model(model, page_size or opened.page_size)
    wanted = sorted(set(points)) if points is not None else list(range(-1, opened.op_count))
    if not wanted:
        raise ValueError("crash_states: no crash point to draw from")
    bad = [p for p in wanted if not -1 <= p < opened.op_count]
    if bad:
        raise ValueError(f"crash_states: crash point {bad[0]} does not exist in {opened.path}")
    cache = _Points(opened, chosen)

    @st.composite
    def draw_state(draw: Any) -> CrashCase:
        point = draw(st.sampled_from(wanted))
        pending = cache.pending(point)
        units = len(pending.units)
        drawn = draw(st.lists(st.booleans(), min_size=units, max_size=units)) if units else []
        lost = pending.space.lose(frozenset(), [i for i, gone in enumerate(drawn) if gone])
        state = CrashState(point, pending.name(lost), pending.key(lost), class_="drawn",
                           lost=lost, image=StateImage(pending, lost))
        return CrashCase(opened, chosen, state, cache.markers(point))

    return draw_state()
