"""The persistence-model interface: what may be pending at a crash point, and what is legal.

A `PersistenceModel` replays a trace and, at every crash point, hands the
enumerator a `Pending`: the units that may or may not have reached the disk
(pages written since their file's last fsync; for weaker models also
namespace operations not yet durable, or pieces of them) and the `Space`
of legal choices among them. A choice is the set of unit indices *lost*;
the `Pending` turns it into a content key and an `Image`. Models never
enumerate choices themselves and never touch the real disk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar, Protocol

from powercut.errors import PowercutError
from powercut.replayer.image import Entry, Image
from powercut.replayer.models.failure import KEEP, check_fsync_failure
from powercut.replayer.space import Lost, Space
from powercut.replayer.state import BEFORE_FIRST, StateName, Unit, UnitSpecError, unfold_ids
from powercut.replayer.tree import Tree
from powercut.trace import Op, Trace


class Pending(ABC):
    """What is undecided at one crash point (after op `point`; -1 before the first)."""

    point: int
    units: tuple[Unit, ...]
    space: Space

    @abstractmethod
    def key(self, lost: Lost) -> str:
        """Content key of the state that loses the units `lost` (indices)."""

    @abstractmethod
    def image(self, lost: Lost) -> Image:
        """The on-disk tree of that state, for `materialise`."""

    def aliases(self) -> dict[str, str]:
        """Other names (hard links) of files with page units -> the name their units use."""
        return {}

    # -- naming ---------------------------------------------------------------------------------

    def name(self, lost: Lost) -> StateName:
        return StateName.of_units(self.point, (self.units[i] for i in lost))

    def listing(self) -> str:
        """The pending units, folded ("db:0-3; #12"), or "none"."""
        return "; ".join(StateName.of(self.point, (u.id for u in self.units)).lost) or "none"

    def resolve(self, specs: Iterable[str], what: str = "unit") -> Lost:
        """Unit indices of unit specs (`PATH:PAGES`, `#SEQ[.PIECE]`); hard-link names work too."""
        index = {u.id: i for i, u in enumerate(self.units)}
        aliases = self.aliases()
        try:
            ids = unfold_ids(specs)
        except UnitSpecError as e:
            raise PowercutError(f"--{what} {e}") from None
        found = set()
        for uid in ids:
            i = index.get(uid)
            if i is None and ":" in uid:
                path, _, page = uid.rpartition(":")
                i = index.get(f"{aliases.get(path, path)}:{page}")
            if i is None:
                raise PowercutError(f"{uid} is not a pending unit at crash point {self.point}; "
                                    f"pending there: {self.listing()}")
            found.add(i)
        return frozenset(found)

    def lost_of(self, name: StateName) -> Lost:
        """The lost set a name gives, refused when the model does not allow it."""
        lost = self.resolve(name.lost)
        if not self.space.legal(lost):
            legal = self.space.lose(frozenset(), lost)
            extra = sorted(self.units[i].id for i in legal - lost)
            raise PowercutError(
                f"losing {'; '.join(name.lost)} at crash point {self.point} alone is not a state "
                f"this model allows: {', '.join(extra[:8])} cannot persist without it")
        return lost


class StateImage:
    """A crash state's image, built only when asked for (materialise, pickling).

    Most states are never written out (duplicates, dry runs), so building
    their image eagerly would be wasted work. Pickles as the built `Image`.
    """

    __slots__ = ("_lost", "_pending")

    def __init__(self, pending: Pending, lost: Lost) -> None:
        self._pending = pending
        self._lost = lost

    def build(self) -> Image:
        return self._pending.image(self._lost)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self.build().entries

    @property
    def page_size(self) -> int:
        return self.build().page_size

    def __reduce__(self) -> tuple[type, tuple[int, tuple[Entry, ...]]]:
        image = self.build()
        return (Image, (image.page_size, image.entries))


class ModelRun(Protocol):
    """One replay of a trace under a model: ops applied in order, the pending state asked
    for after any of them."""

    def apply(self, op: Op) -> None: ...

    def pending(self, point: int) -> Pending: ...


class PersistenceModel(ABC):
    """A rule for which disk states a power cut may leave; see the README's models table.

    Subclasses set `name` (the `--model` value) and `summary` (one line for
    help texts) and implement `crash_points` (or, through `ReplayModel`, a
    replay of their own).
    """

    name: ClassVar[str]
    summary: ClassVar[str]

    def __init__(self, page_size: int = 4096, *, fsync_failure: str = KEEP) -> None:
        if not isinstance(page_size, int) or page_size < 512 or page_size & (page_size - 1):
            raise PowercutError(f"page size {page_size!r} is not a power of two >= 512")
        self.page_size = page_size
        # What a failed fsync leaves in the file (see `failure`): the cache keeps the new
        # bytes (ext4, XFS), or they revert to the durable ones (btrfs).
        self.fsync_failure = check_fsync_failure(fsync_failure)

    @abstractmethod
    def crash_points(self, trace: Trace,
                     wanted: Callable[[int], bool] | None = None) -> Iterator[Pending]:
        """Stream a `Pending` for point -1 and after every op, in order.

        Points for which `wanted(point)` is false are skipped (the ops are
        still applied). The caller may stop iterating early.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(page_size={self.page_size})"


class ReplayModel(PersistenceModel):
    """A model whose crash points come from one replay of the trace (`start`)."""

    def crash_points(self, trace: Trace,
                     wanted: Callable[[int], bool] | None = None) -> Iterator[Pending]:
        run = self.start(Tree.of_trace(trace, self.page_size))
        if wanted is None or wanted(BEFORE_FIRST):
            yield run.pending(BEFORE_FIRST)
        for op in trace.ops():
            run.apply(op)
            if wanted is None or wanted(op.seq):
                yield run.pending(op.seq)

    @abstractmethod
    def start(self, tree: Tree) -> ModelRun:
        """A replay under this model from `tree`, before the trace's first op."""
