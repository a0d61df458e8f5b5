"""The acknowledged-write loop every workload sends its writes through, and the plan it sends.

The soundness rule of every durability check: before a request, an
*intent* marker says the write is in flight (a crash before the answer may
keep it or not); once the program has answered, and only then, the
*acknowledgement* marker says it must survive. A write made without a
sync (`Write.sync` False) is acknowledged by the next one made with it,
with each key's last value only (a sync makes every earlier write durable,
as LevelDB and RocksDB document; acknowledging a superseded value first
would expect the old value at a crash between the two markers).

The plan is the same for every key-value target: fresh keys
`key-NNNN=value-NNNN`, every tenth request an overwrite of an earlier key,
and one delete of the first key at N/2.

Only the standard library is imported here: a target's child program (an
embedded database run in a process of its own, `child.py`) loads this file
by its path, with nothing else of powercut.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Write:
    """One client request: a put of `value`, or a delete when `value` is None."""

    key: str
    value: str | None
    sync: bool = True  # durable once answered; else acknowledged by the next synced write
    text: str = ""  # what the markers say it is [default: "put KEY=VALUE", "delete KEY"]

    def marker(self, intent: bool = False) -> dict[str, Any]:
        """The acknowledgement, or with `intent` the request about to be sent."""
        what = "sending" if intent else "acknowledged"
        fields: dict[str, Any] = {"key": self.key, "value": self.value}
        if self.text:
            fields.update(text=f"{self.text} {what}")
        elif self.value is None:
            fields.update(text=f"delete {self.key} {what}", deleted=True)
        else:
            fields.update(text=f"put {self.key}={self.value} {what}")
        return {**fields, "intent": True} if intent else fields


def plan_writes(n: int, *, sync_every: int = 1, value_size: int = 0) -> list[Write]:
    """`n` requests: fresh keys, every tenth an overwrite, one delete (pure).

    With `sync_every` K > 1 only every K-th request (and the last) is made
    with a sync; values are padded with dots to `value_size` bytes.
    """
    writes: list[Write] = []
    fresh: list[str] = []
    for i in range(n):
        sync = (i + 1) % sync_every == 0 or i == n - 1
        if i == n // 2 and fresh:
            writes.append(Write(fresh[0], None, sync))  # the one delete, of the first key
            continue
        value = f"value-{i:04d}"
        value += "." * max(0, value_size - len(value))
        if i % 10 == 9 and len(fresh) > 1:
            writes.append(Write(fresh[-2], value, sync))  # overwrite an earlier key
        else:
            fresh.append(f"key-{i:04d}")
            writes.append(Write(fresh[-1], value, sync))
    return writes


def send_acknowledged(mark: Callable[[Mapping[str, Any]], None], writes: Sequence[Write],
                      request: Callable[[Write], Write | None], *,
                      deadline: float | None = None,
                      errors: tuple[type[BaseException], ...] = (),
                      why: Callable[[], str | None] = lambda: None) -> str | None:
    """Send each write between its intent and its acknowledgement markers; None once every
    write was acknowledged, else why not.

    `request(write)` returns once the program answered: None, or the write
    as answered when only the answer says what it is (git's commit names
    its sha). One of `errors` from it stops the loop (`why()` may say more:
    the program exited). `deadline` is on the monotonic clock.
    """
    unsynced: dict[str, Write] = {}
    for i, write in enumerate(writes):
        if deadline is not None and time.monotonic() > deadline:
            return f"only {i} of {len(writes)} writes within the timeout"
        mark(write.marker(intent=True))  # in flight: a crash may keep it or not
        try:
            answered = request(write) or write
        except errors as e:
            more = why()
            return f"write {i} ({write.key}) failed: {type(e).__name__}: {e}" + (
                f"; {more}" if more else "")
        unsynced.pop(answered.key, None)
        unsynced[answered.key] = answered
        if answered.sync:  # answered, and durable: only now may its marker be recorded
            for done in unsynced.values():
                mark(done.marker())
            unsynced = {}
    return None
