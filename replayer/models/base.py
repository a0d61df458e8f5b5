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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from powercut.errors import PowercutError
from powercut.replayer.image import Entry, Image
from powercut.replayer.state import Kept, Unit
from powercut.trace import Trace


@dataclass(frozen=True, slots=True)
class Requires:
    """Unit `unit` (an index into `Pending.units`) persists only if unit `needs` did."""

    unit: int
    needs: int


@dataclass(frozen=True, slots=True)
class Choice:
    """Which units of a point persisted: `indices` are the kept ones, or with
    `lost` set the lost ones (ascending either way).

    Naming the smaller side keeps a state with 4000 dirty pages and 2 lost
    cheap to key: a model may work from its all-kept form.
    """

    n: int
    indices: tuple[int, ...]
    lost: bool = False

    def kept(self) -> tuple[int, ...]:
        if not self.lost:
            return self.indices
        gone = set(self.indices)
        return tuple(i for i in range(self.n) if i not in gone)



class Pending(ABC):
    """What is undecided at one crash point (after op `seq`; -1 before the first)."""

    seq: int
    units: tuple[Unit, ...]
    constraints: tuple[Requires, ...] = ()

    def legal(self, choice: Choice) -> bool:
        """Whether the choice respects every constraint."""
        if not self.constraints:
            return True
        chosen = set(choice.kept())
        return all(c.unit not in chosen or c.needs in chosen for c in self.constraints)

    def kept(self, choice: Choice) -> Kept:
        """The choice as `CrashState.kept`: pages per path."""
        by_path: dict[str, list[int]] = {}
        for index in choice.kept():
            unit = self.units[index]
            by_path.setdefault(unit.path, []).append(unit.page)
        return tuple(sorted((path, tuple(sorted(pages))) for path, pages in by_path.items()))

    @abstractmethod
    def key(self, choice: Choice) -> str:
        """Content key of the state of that choice."""

    @abstractmethod
    def image(self, choice: Choice) -> Image:
        """The on-disk tree of that state, for `materialise`."""


class StateImage:
    """A crash state's image, built only when asked for (materialise, pickling).

    Most states are never written out (duplicates, dry runs), so building
    their image eagerly would be wasted work. Pickles as the built `Image`.
    """

    __slots__ = ("_choice", "_pending")

    def __init__(self, pending: Pending, choice: Choice) -> None:
        self._pending = pending
        self._choice = choice

    def build(self) -> Image:
        return self._pending.image(self._choice)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self.build().entries

    @property
    def page_size(self) -> int:
        return self.build().page_size

    def __reduce__(self) -> tuple[type, tuple[int, tuple[Entry, ...]]]:
        image = self.build()
        return (Image, (image.page_size, image.entries))


class PersistenceModel(ABC):
    """A rule for which disk states a power cut may leave; see the README's "Persistence models".

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
