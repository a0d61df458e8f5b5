"""The plain data that crosses from the replayer to the explorer.

A `CrashPoint` is "power failed right after operation `seq`" (seq -1: before
the first operation). At a crash point the persistence model names pending
`Unit`s (for the lazyfs model: dirty pages); a `CrashState` is one choice of
which units reached the disk. These are frozen values with no I/O: the
explorer groups, sorts and reports them without knowing how they were built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BEFORE_FIRST = -1

Kept = tuple[tuple[str, tuple[int, ...]], ...]
"""Kept pages per path, sorted by path, pages ascending; paths with none are left out."""


def kept_from_mapping(kept: Mapping[str, Any]) -> Kept:
    return tuple(sorted((p, tuple(sorted(set(pages)))) for p, pages in kept.items() if pages))


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing that may or may not have reached the disk at a crash.

    For page units `path` and `page` name the page (page = offset // page
    size, `path` the file's name at the crash point) and `writes` are the
    seqs of the write operations that dirtied it since its last sync.
    `kind` leaves room for models with other pending units (namespace ops).
    """

    path: str
    page: int
    writes: tuple[int, ...]
    kind: str = "page"


@dataclass(frozen=True, slots=True)
class CrashPoint:
    """A crash point and what is pending there."""

    seq: int
    units: tuple[Unit, ...]
    possible: int  # states the model allows here (before dedup), e.g. 2 ** len(units)
    enumerated: int  # states actually enumerated here (< possible when bounded)

    @property
    def bounded(self) -> bool:
        return self.enumerated < self.possible


@dataclass(frozen=True)
class CrashState:
    """One legal on-disk state: at crash point `point`, exactly `kept` persisted.

    `key` is the content key (hash of paths, kinds, modes, sizes and bytes):
    equal keys mean equal trees. `duplicate` is True when an earlier state of
    the same enumeration had this key. `image` is the replayer's handle for
    materialising the state; it takes no part in equality.
    """

    point: int
    kept: Kept
    key: str
    duplicate: bool = False
    image: Any = field(default=None, compare=False, repr=False, hash=False)

    @property
    def kept_map(self) -> dict[str, list[int]]:
        return {path: list(pages) for path, pages in self.kept}
