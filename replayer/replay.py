"""One named crash state: the state after op `point` with the given units lost (or kept).

This is what `powercut replay`, a report's reproduction command and a Dask
worker use. A state is named by its crash point and its lost units
(`StateName`), or, in the page form `--keep PATH:PAGES`, by the units kept
(every other pending unit lost). A unit that is not pending at that point,
or a choice the model does not allow, is an error whose message lists what
is pending, so the user can correct the command. It never enumerates other
states and never touches the disk.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from powercut.errors import PowercutError
from powercut.replayer.enumeration import check_points
from powercut.replayer.models.base import Pending, PersistenceModel, StateImage
from powercut.replayer.space import Lost
from powercut.replayer.state import CrashState, StateName
from powercut.trace import Trace


def pending_at(trace: Trace, model: PersistenceModel, point: int) -> Pending:
    check_points([point], trace.op_count)
    for pending in model.crash_points(trace, lambda p: p == point):
        return pending
    raise PowercutError(f"crash point {point} was not reached")  # pragma: no cover


def state_of(pending: Pending, lost: Lost) -> CrashState:
    """The crash state of `pending`'s point that loses `lost` (unit indices, legal)."""
    return CrashState(pending.point, pending.name(lost), pending.key(lost), class_="named",
                      lost=lost, image=StateImage(pending, lost))


def named_state(pending: Pending, name: StateName) -> CrashState:
    """The state `name` names at `pending`'s crash point (refused if illegal there)."""
    if name.point != pending.point:
        raise PowercutError(f"state {name.text()} is not at crash point {pending.point}")
    return state_of(pending, pending.lost_of(name))


def kept_state(pending: Pending, keep: Iterable[str] | None) -> CrashState:
    """The state keeping exactly the units `keep` names (None: every unit kept)."""
    if keep is None:
        return state_of(pending, frozenset())
    kept = pending.resolve(keep, "keep")
    lost = frozenset(range(len(pending.units))) - kept
    if not pending.space.legal(lost):
        legal = pending.space.keep(lost, kept)
        extra = sorted(pending.units[i].id for i in lost - legal)
        raise PowercutError(f"keeping only {'; '.join(keep)} at crash point {pending.point} is "
                            f"not a state this model allows: it needs {', '.join(extra[:8])} "
                            "kept too")
    return state_of(pending, lost)


def state_at(trace: Trace, model: PersistenceModel, point: int, *,
             lost: Iterable[str] | None = None, keep: Iterable[str] | None = None
             ) -> CrashState:
    """The crash state after op `point` (-1: before the first) losing `lost`, or keeping
    exactly `keep` (neither: every pending unit kept)."""
    if lost is not None and keep is not None:
        raise PowercutError("name a state by its lost units or by its kept units, not both")
    pending = pending_at(trace, model, point)
    if lost is not None:
        return named_state(pending, StateName(point, tuple(lost)))
    return kept_state(pending, keep)


def replay_command(trace: str, name: StateName, model: str, page_size: int, *,
                   trace_page_size: int, prefix: bool = False, fsync_failure: str = "keep",
                   to: str = "crash-state") -> str:
    """The `powercut replay` command line that materialises the state `name` of `trace`
    (the model and page size only when they are not the defaults, `--prefix` for a trace
    read up to its valid prefix)."""
    args = ["powercut", "replay", trace, "--point", str(name.point)]
    if model != "lazyfs":
        args += ["--model", model]
    if page_size != trace_page_size:
        args += ["--page-size", str(page_size)]
    if prefix:
        args.append("--prefix")
    if fsync_failure != "keep":
        args += ["--fsync-failure", fsync_failure]
    for spec in name.lost:
        args += ["--lose", spec]
    return shlex.join([*args, "--to", to])
