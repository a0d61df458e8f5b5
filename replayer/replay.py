"""One named crash state: the state after op `point` with exactly the given pages kept.

This is what `powercut replay` and a report's reproduction command use. A
page that is not dirty at that point (or an unknown path) is an error whose
message lists the pages that are, so the user can correct the command. It
never enumerates other states and never touches the disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from powercut.errors import PowercutError
from powercut.replayer.enumeration import check_points
from powercut.replayer.models.base import Choice, Pending, PersistenceModel, StateImage
from powercut.replayer.state import CrashState
from powercut.trace import Trace


def dirty_listing(pending: Pending) -> str:
    """'path: 0,1,2; other: 5' for the units pending at a point ('none' if clean)."""
    by_path: dict[str, list[int]] = {}
    for unit in pending.units:
        by_path.setdefault(unit.path, []).append(unit.page)
    if not by_path:
        return "none"
    return "; ".join(f"{path}: {','.join(map(str, sorted(pages)))}"
                     for path, pages in sorted(by_path.items()))


def pending_at(trace: Trace, model: PersistenceModel, point: int) -> Pending:
    check_points([point], trace.op_count)
    for pending in model.crash_points(trace, lambda seq: seq == point):
        return pending
    raise PowercutError(f"crash point {point} was not reached")  # pragma: no cover


def state_at(trace: Trace, model: PersistenceModel, point: int,
             keep: Mapping[str, Iterable[int]] | Literal["all"]) -> CrashState:
    """The crash state after op `point` (-1: before the first) keeping exactly `keep`."""
    return state_in(pending_at(trace, model, point), model, keep)


def state_in(pending: Pending, model: PersistenceModel,
             keep: Mapping[str, Iterable[int]] | Literal["all"]) -> CrashState:
    """The crash state of `pending`'s crash point keeping exactly `keep` (see `state_at`)."""
    point = pending.seq
    if keep == "all":
        chosen = tuple(range(len(pending.units)))
    else:
        index = {(u.path, u.page): i for i, u in enumerate(pending.units)}
        aliases = _aliases(pending)
        picked = set()
        for path, pages in keep.items():
            for page in pages:
                i = index.get((aliases.get(path, path), page))
                if i is None:
                    raise PowercutError(
                        f"{path}:{page} is not a dirty page at crash point {point}; "
                        f"dirty pages there: {dirty_listing(pending)}")
                picked.add(i)
        chosen = tuple(sorted(picked))
    choice = Choice(len(pending.units), chosen)
    if not pending.legal(choice):
        raise PowercutError(f"keeping {_describe(pending, chosen)} at crash point {point} "
                            f"breaks the {type(model).__name__} model's ordering constraints")
    return CrashState(point, pending.kept(choice), pending.key(choice), False,
                      StateImage(pending, choice))


def _aliases(pending: Pending) -> dict[str, str]:
    """Other names (hard links) of files with units -> the name the units use."""
    unit_paths = {u.path for u in pending.units}
    image = pending.image(Choice(len(pending.units), ()))
    aliases = {}
    for entry in image.entries:
        if entry.link_to in unit_paths:
            aliases[entry.path] = entry.link_to
    return aliases


def _describe(pending: Pending, chosen: tuple[int, ...]) -> str:
    return ", ".join(f"{pending.units[i].path}:{pending.units[i].page}" for i in chosen) or "none"
