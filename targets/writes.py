"""The acknowledged writes a key-value workload makes, and the `--writes` option that counts them.

Every key-value target (etcd, Redis, LevelDB) sends the same plan: fresh
keys `key-NNNN=value-NNNN`, every tenth request an overwrite of an earlier
key, and one delete of the first key at N/2. A `Write` also says what its
markers hold: an intent before the request (`"intent": true`: a crash
before the answer may keep it or not) and the acknowledgement once the
program answered (the durability oracle reads both). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from powercut.targets.base import Option


@dataclass(frozen=True)
class Write:
    """One client request: a put of `value`, or a delete when `value` is None."""

    key: str
    value: str | None

    def marker(self, intent: bool = False) -> dict[str, Any]:
        """The acknowledgement, or with `intent` the request about to be sent."""
        what = "sending" if intent else "acknowledged"
        fields: dict[str, Any] = {"key": self.key, "value": self.value}
        if self.value is None:
            fields.update(text=f"delete {self.key} {what}", deleted=True)
        else:
            fields.update(text=f"put {self.key}={self.value} {what}")
        return {**fields, "intent": True} if intent else fields


def plan_writes(n: int) -> list[Write]:
    """`n` requests: fresh keys, every tenth an overwrite, one delete (pure)."""
    writes: list[Write] = []
    fresh: list[str] = []
    for i in range(n):
        if i == n // 2 and fresh:
            writes.append(Write(fresh[0], None))  # the one delete, of the first key
        elif i % 10 == 9 and len(fresh) > 1:
            writes.append(Write(fresh[-2], f"value-{i:04d}"))  # overwrite an earlier key
        else:
            fresh.append(f"key-{i:04d}")
            writes.append(Write(fresh[-1], f"value-{i:04d}"))
    return writes


def writes_option(*workloads: str) -> Option:
    """`--writes N` for `workloads`; every target declares the same option (one flag)."""
    return Option("--writes", "Acknowledged writes the workload makes, each acknowledged by a "
                  "marker (redis, leveldb, postgres, zookeeper: puts and one delete; git: "
                  "commits) [default: the workload's].", ("record",), workloads, type=int,
                  metavar="N", kwargs={"min": 1})
