"""A crash point of a model that may lose namespace operations: keys and images by replay.

The model hands over a snapshot of its durable `Namespace`, the pending
units (pages and operations, or pieces of them), what each non-page unit
does (its effects, in the order they must be applied) and the `Space` of
legal choices. A state's disk is the durable namespace with the kept
units' effects replayed in order, then the kept pages laid over the data.
Namespaces replayed for one set of kept operations are kept for the next
states that share it (a journal cut is shared by every page choice), in a
`NamespaceCache` shared by every crash point of one model run: the
driver holds states of many points at once, and a namespace may hold a
large file's pages, so the number kept is bounded for the run, not per
point.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence

from powercut.replayer.image import Image
from powercut.replayer.models.base import Pending
from powercut.replayer.models.effects import Effect, Fill, Namespace, PageOverlay
from powercut.replayer.space import Lost, Space
from powercut.replayer.state import Unit

KEEP_NAMESPACES = 16
_points = itertools.count()


class NamespaceCache:
    """The last namespaces built, for every crash point of one model run (thread-safe)."""

    def __init__(self, keep: int = KEEP_NAMESPACES) -> None:
        self.keep = keep
        self._kept: collections.OrderedDict[tuple[int, frozenset[int]], Namespace] = \
            collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, frozenset[int]], build: Callable[[], Namespace]
            ) -> Namespace:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                return found
        made = build()
        with self._lock:
            self._kept[key] = made
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return made


def _overwritten(effect: Effect, after: Effect | None) -> bool:
    """Whether `after`, applied right after `effect`, undoes all it did: garbage over a range
    that the next effect zeroes (an extending truncate whose garbage and zeros are both kept:
    tens of thousands of pages put, then dropped, for every such state)."""
    return (isinstance(effect, Fill) and isinstance(after, Fill) and effect.garbage is not None
            and after.garbage is None and after.ino == effect.ino
            and after.start <= effect.start and effect.end <= after.end)


class EffectPending(Pending):
    def __init__(self, point: int, base: Namespace, units: tuple[Unit, ...],
                 effects: Mapping[int, Sequence[Effect]], pages: Mapping[int, tuple[int,
                 PageOverlay]], always: Sequence[tuple[int, PageOverlay]], space: Space,
                 aliases: Mapping[str, str], cache: NamespaceCache | None = None) -> None:
        self.point = point
        self.units = units
        self.space = space
        self._base = base
        self._effects = effects  # non-page unit index -> its effects (applied in index order)
        self._order = sorted(effects)
        self._pages = pages  # page unit index -> (inode, its kept form)
        self._always = always  # pages kept in every state (ext4's auto_da_alloc)
        self._aliases = dict(aliases)
        self._cache = cache if cache is not None else NamespaceCache()
        self._token = next(_points)

    def aliases(self) -> dict[str, str]:
        return self._aliases

    def _namespace(self, lost: Lost) -> Namespace:
        lost_ops = frozenset(i for i in lost if i in self._effects)
        return self._cache.get((self._token, lost_ops), lambda: self._replay(lost_ops))

    def _replay(self, lost_ops: frozenset[int]) -> Namespace:
        ns = self._base.copy()
        kept = [e for i in self._order if i not in lost_ops for e in self._effects[i]]
        for at, effect in enumerate(kept):
            if not _overwritten(effect, kept[at + 1] if at + 1 < len(kept) else None):
                ns.apply(effect)
        return ns

    def _build(self, lost: Lost) -> tuple[Image, str]:
        overlays: dict[int, list[PageOverlay]] = {}
        for ino, overlay in self._always:
            overlays.setdefault(ino, []).append(overlay)
        for i, (ino, overlay) in self._pages.items():
            if i not in lost:
                overlays.setdefault(ino, []).append(overlay)
        return self._namespace(lost).image(overlays)

    def key(self, lost: Lost) -> str:
        return self._build(lost)[1]

    def image(self, lost: Lost) -> Image:
        return self._build(lost)[0]
