"""How a program reacted to the call a fault failed, read from its trace and its workload's end.

Three reactions (docs/fsync-failures.md):

- `acknowledged`: it acknowledged writes after the failure (it ignored the
  error, or retried it, and carried on); whether that lost anything is for
  the crash states after the failure to say;
- `error`: it answered the request in flight with an error and stayed up
  (no acknowledgement after the failure);
- `exited`: it exited or crashed (a database's PANIC, a server's exit, a
  command's non-zero status).

`completed` is a run that reached its end with nothing acknowledged after
the failure (the failed call came after the last acknowledgement, as a
compaction's), `none` a fault that never fired (the run made fewer
matching calls), and `stopped` a run that ended short without another
acknowledgement when the workload cannot tell an exit from an error. Pure: reads ops and the record
result, runs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from powercut.trace import Op

Kind = Literal["acknowledged", "error", "exited", "completed", "stopped", "none"]
KINDS: tuple[Kind, ...] = ("acknowledged", "error", "exited", "completed", "stopped", "none")


@dataclass(frozen=True)
class Reaction:
    """What the program did once the call failed."""

    kind: Kind
    failed: int | None  # the failed op's seq
    call: str  # the failed call, e.g. "fdatasync appendonlydir/appendonly.aof.1.incr.aof"
    in_flight: str | None  # the key whose request was in flight at the failure
    acknowledged: tuple[str, ...]  # keys acknowledged after the failure, in order
    printed: str  # what the program said: its log lines naming the error, its workload's end
    errno: int | None = None  # the failed call's errno

    @property
    def said(self) -> str:
        """The first line of `printed` that names the error ("Input/output error", any
        case), else its last line: what the program said about the failure."""
        lines = [line.strip() for line in self.printed.replace(" | ", "\n").splitlines()
                 if line.strip()]
        if not lines:
            return ""
        if self.errno is not None:
            error = os.strerror(self.errno).lower()
            named = [line for line in lines if error in line.lower()]
            if named:
                return named[0]
        return lines[-1]

    def describe(self) -> str:
        if self.kind == "none":
            return "the fault never fired"
        if self.kind == "acknowledged":
            first = self.acknowledged[0]
            again = " (the write whose sync failed)" if first == self.in_flight else ""
            return (f"acknowledged {len(self.acknowledged)} writes after the failure, first "
                    f"{first}{again}")
        return {"error": "answered with an error and stayed up",
                "exited": "exited (or crashed) on the failure",
                "completed": "went on to its end, nothing acknowledged after the failure",
                "stopped": "stopped acknowledging"}[self.kind]

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "failed": self.failed, "call": self.call,
                "in_flight": self.in_flight, "acknowledged": list(self.acknowledged),
                "printed": self.printed, "said": self.said, "text": self.describe()}


def _call(op: Op) -> str:
    name = "fdatasync" if op.op == "fsync" and op.datasync else op.op
    return f"{name} {op.path or '(mount root)'}"


def react(ops: Iterable[Op], *, exited: bool | None, printed: str,
          complete: bool = False) -> Reaction:
    """The reaction shown by a fault run's ops (the failed one has `errno`), given whether
    the program had exited when its workload stopped (`RecordResult.exited`), whether the
    workload reached its end (`complete`) and what it printed."""
    failed: Op | None = None
    intents: dict[str, int] = {}  # key -> seq of its last intent not yet acknowledged
    in_flight: str | None = None
    after: list[str] = []
    for op in ops:
        if failed is None and op.failed:
            failed = op
            in_flight = max(intents, key=intents.__getitem__) if intents else None
            continue
        if op.op != "marker" or "key" not in op.extra:
            continue
        key = str(op.extra["key"])
        if op.extra.get("intent"):
            intents[key] = op.seq
        else:
            intents.pop(key, None)
            if failed is not None:
                after.append(key)
    if failed is None:
        return Reaction("none", None, "", None, (), printed)
    if after:
        kind: Kind = "acknowledged"
    elif exited:
        kind = "exited"
    elif complete:
        kind = "completed"
    else:
        kind = "stopped" if exited is None else "error"
    return Reaction(kind, failed.seq, _call(failed), in_flight, tuple(after), printed,
                    failed.errno)
