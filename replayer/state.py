"""The plain data that crosses from the replayer to the explorer: units, crash points, states.

A *crash point* is "power failed right after operation `point`" (-1: before
the first operation). At a crash point the persistence model names the
*pending units*: what may or may not have reached the disk (a page written
since its file's last fsync, a namespace operation not yet durable, a piece
of one). A *crash state* is one legal choice of which pending units were
lost; it is named everywhere (JSON, `powercut replay`, journal, Dask) by its
crash point and the ids of its lost units (`StateName`).

Unit ids: a page is `PATH:PAGE` (the file's name at the crash point), any
other unit `#SEQ` or `#SEQ.PIECE` (the operation at SEQ, or one piece of
it). In a name, pages of one file fold into ranges: `PATH:0-3,7`. These
are frozen values with no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from powercut.ranges import RangeError, parse_ranges, ranges

BEFORE_FIRST = -1
_OP_ID = re.compile(r"^#(\d+)(?:\.([a-z-]+))?$")


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing that may or may not have reached the disk at a crash.

    A page unit names page `page` of the file called `path` at the crash
    point; `writes` are the seqs of the writes that made it pending since
    the file's last sync. An operation unit (`is_op`) names operation `seq`
    (or `piece` of it): `path` is the path it acts on, `writes` is `(seq,)`.
    """

    path: str
    page: int
    writes: tuple[int, ...]
    is_op: bool = False
    piece: str = ""

    @property
    def seq(self) -> int:
        """The operation that made the unit pending last (the write, or the op itself)."""
        return self.page if self.is_op else self.writes[-1]

    @property
    def id(self) -> str:
        if not self.is_op:
            return f"{self.path}:{self.page}"
        return f"#{self.page}" + (f".{self.piece}" if self.piece else "")

    @classmethod
    def op(cls, seq: int, path: str, piece: str = "") -> Unit:
        return cls(path, seq, (seq,), True, piece)


def fold_ids(ids: Iterable[str]) -> list[str]:
    """Unit ids with the pages of each file folded into ranges (`db:0-3,7`), sorted."""
    pages: dict[str, list[int]] = {}
    others: list[str] = []
    for uid in ids:
        if _OP_ID.match(uid):
            others.append(uid)
            continue
        path, _, page = uid.rpartition(":")
        pages.setdefault(path, []).append(int(page))
    out = [f"{path}:{ranges(sorted(set(p)))}" for path, p in sorted(pages.items())]
    return out + sorted(others, key=_op_order)


def fold_units(units: Iterable[Unit]) -> list[str]:
    """`fold_ids` of the units' ids, straight from the units (the enumeration names every
    state it emits: this is its hot path)."""
    pages: dict[str, list[int]] = {}
    ops: list[Unit] = []
    for u in units:
        if not u.is_op:
            pages.setdefault(u.path, []).append(u.page)
        else:
            ops.append(u)
    out = [f"{path}:{ranges(sorted(set(p)))}" for path, p in sorted(pages.items())]
    return out + [u.id for u in sorted(ops, key=lambda u: (u.page, u.piece))]


def _op_order(uid: str) -> tuple[int, str]:
    m = _OP_ID.match(uid)
    assert m is not None
    return int(m.group(1)), m.group(2) or ""


class UnitSpecError(ValueError):
    """A unit spec that is neither `PATH:PAGES` nor `#SEQ[.PIECE]`."""


def unfold_ids(specs: Iterable[str]) -> list[str]:
    """The unit ids `fold_ids` folded (also accepts `PATH:PAGE,PAGE` and single ids)."""
    out: list[str] = []
    for spec in specs:
        if _OP_ID.match(spec):
            out.append(spec)
            continue
        path, sep, pages = spec.rpartition(":")
        if not sep or not path or not pages:
            raise UnitSpecError(f"{spec!r}: expected PATH:PAGE[,PAGE|-PAGE...] or #SEQ[.PIECE]")
        try:
            found = parse_ranges(pages)
        except RangeError as e:
            raise UnitSpecError(f"{spec!r}: pages {e}") from None
        if found[0] < 0:
            raise UnitSpecError(f"{spec!r}: a page is never negative")
        out.extend(f"{path}:{p}" for p in found)
    return out


@dataclass(frozen=True, slots=True)
class StateName:
    """How a crash state is named everywhere: its crash point and the ids of its lost units."""

    point: int
    lost: tuple[str, ...]  # folded, sorted (see `fold_ids`)

    @classmethod
    def of(cls, point: int, lost_ids: Iterable[str]) -> StateName:
        return cls(point, tuple(fold_ids(lost_ids)))

    @classmethod
    def of_units(cls, point: int, lost: Iterable[Unit]) -> StateName:
        return cls(point, tuple(fold_units(lost)))

    def to_json(self) -> dict[str, Any]:
        return {"point": self.point, "lost": list(self.lost)}

    def text(self) -> str:
        return f"{self.point}:" + (";".join(self.lost) if self.lost else "all kept")


@dataclass(frozen=True)
class ClassCount:
    """One class of states at a crash point: how many it has, how many were enumerated."""

    name: str  # "exhaustive", "all-kept", "one-lost", "torn-write", "pair", "all-lost", "random"
    size: int
    enumerated: int

    @property
    def complete(self) -> bool:
        return self.enumerated >= self.size


@dataclass(frozen=True)
class CrashPoint:
    """A crash point: its pending units, its legal states, and what was enumerated of them."""

    point: int
    units: int  # pending units
    legal: int  # legal states (before dedup)
    enumerated: int  # states enumerated here
    classes: tuple[ClassCount, ...] = ()

    @property
    def exhaustive(self) -> bool:
        return self.enumerated >= self.legal


def verdict_key(content: str, markers: str = "") -> str:
    """The key a state's verdict is kept under (journal, results cache): its content key, and
    the digest of the markers it was judged with, if any."""
    return f"{content}+{markers}" if markers else content


@dataclass(frozen=True)
class CrashState:
    """One legal on-disk state: at crash point `point`, the units `lost` did not persist.

    `content` is the content key (hash of paths, kinds, modes, sizes and
    bytes): equal content means equal trees. `markers` is, for checkers
    that read markers, a digest of the markers before the point ("" for
    the others); `key`, both together, is what a verdict is kept under:
    equal keys mean equal states. `duplicate` is True when an earlier state
    of the same exploration had this key. `class_` is the class it was
    enumerated in (JSON `class`). `lost` are unit indices of the point's
    pending units; `image` is the replayer's handle for materialising it.
    Neither takes part in equality.
    """

    point: int
    name: StateName
    content: str
    markers: str = ""
    duplicate: bool = False
    class_: str = "exhaustive"
    lost: frozenset[int] = field(default=frozenset(), compare=False, repr=False, hash=False)
    image: Any = field(default=None, compare=False, repr=False, hash=False)

    @property
    def key(self) -> str:
        return verdict_key(self.content, self.markers)

    @property
    def lost_ids(self) -> list[str]:
        return unfold_ids(self.name.lost)
