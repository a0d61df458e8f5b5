"""The persistence-model interface: what may be pending at a crash point.

A `PersistenceModel` replays a trace and, at every crash point, hands the
enumerator a `Pending`: the units that may or may not have reached the disk
(dirty pages for LazyFS; unsynced namespace operations for weaker models)
and the constraints among them (`Requires`: this unit persists only if that
one did). The enumerator chooses subsets of units; the `Pending` turns a
subset into a content key and an `Image`. Models never enumerate subsets
themselves and never touch the real disk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from powercut.errors import PowercutError
from powercut.recorder.trace_format import Trace
from powercut.replayer.image import Image
from powercut.replayer.state import Unit


@dataclass(frozen=True, slots=True)
class Requires:
    """Unit `unit` (an index into `Pending.units`) persists only if unit `needs` did."""

    unit: int
    needs: int


class Pending(ABC):
    """What is undecided at one crash point (after op `seq`; -1 before the first)."""

    seq: int
    units: tuple[Unit, ...]
    constraints: tuple[Requires, ...] = ()

    def legal(self, kept: Sequence[int]) -> bool:
        """Whether keeping exactly these units (indices) respects every constraint."""
        if not self.constraints:
            return True
        chosen = set(kept)
        return all(c.unit not in chosen or c.needs in chosen for c in self.constraints)

    @abstractmethod
    def key(self, kept: Sequence[int]) -> str:
        """Content key of the state that keeps exactly units `kept` (ascending indices)."""

    @abstractmethod
    def image(self, kept: Sequence[int]) -> Image:
        """The on-disk tree of that state, for `materialise`."""


class PersistenceModel(ABC):
    """A rule for which disk states a power cut may leave; see DESIGN.md.

    Subclasses set `name` (the `--model` value) and `summary` (one line for
    help texts) and implement `crash_points`.
    """

    name: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, page_size: int = 4096) -> None:
        if not isinstance(page_size, int) or page_size < 512 or page_size & (page_size - 1):
            raise PowercutError(f"page size {page_size!r} is not a power of two >= 512")
        self.page_size = page_size

    @abstractmethod
    def crash_points(self, trace: Trace,
                     wanted: Callable[[int], bool] | None = None) -> Iterator[Pending]:
        """Stream a `Pending` for seq -1 and after every op, in order.

        Points for which `wanted(seq)` is false are skipped (the ops are still
        applied). The caller may stop iterating early.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(page_size={self.page_size})"
