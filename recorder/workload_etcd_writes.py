"""Workload `etcd-writes`: bootstrap one etcd member, then client writes acknowledged by markers.

After the member is healthy, `puts` client requests go to it over the v3
JSON API: distinct keys and values, every tenth an overwrite of an earlier
key, and one delete. Each becomes a marker (`key`, `value`, and for the
delete `"deleted": true` with `value` None) written to the mount's control
file only once etcd has answered, so a marker is never early. Before each
request an intent marker (the same fields and `"intent": true`) says the
write is in flight: until it is acknowledged, either outcome is allowed. Then etcd is
stopped (SIGTERM, SIGKILL of the group after a grace).

Nothing here touches the trace directly: markers go through the mount,
stamped by the recorder's own counter.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut.recorder import workload_etcd_kv as kv
from powercut.recorder.markers import CONTROL_DIR, MARKER_FILE
from powercut.recorder.workloads import (
    POLL_SECONDS,
    EtcdBootstrap,
    Outcome,
    clean_env,
    etcd_healthy,
    free_port,
    kill_group,
    log_tail,
    spawn,
)

DEFAULT_PUTS = 100


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


@dataclass(frozen=True)
class EtcdWrites:
    """etcd bootstraps `data.etcd` under the mount, then takes `puts` acknowledged writes."""

    etcd_bin: Path
    version: str
    puts: int = DEFAULT_PUTS
    name: str = "etcd-writes"
    data_dir: str = "data.etcd"
    member_name: str = "default"

    @classmethod
    def with_binary(cls, etcd_bin: Path | str | None = None, puts: int = DEFAULT_PUTS
                    ) -> EtcdWrites:
        boot = EtcdBootstrap.with_binary(etcd_bin)
        return cls(boot.etcd_bin, boot.version, puts)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "etcd_bin": str(self.etcd_bin),
                "etcd_version": self.version, "data_dir": self.data_dir,
                "member_name": self.member_name, "puts": self.puts}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        client, peer = free_port(), free_port()
        log = workdir / "etcd.log"
        boot = EtcdBootstrap(self.etcd_bin, self.version, data_dir=self.data_dir,
                             member_name=self.member_name)
        proc = spawn(boot.argv(mnt, client, peer), log, env=clean_env())
        deadline = time.monotonic() + timeout
        try:
            while not etcd_healthy(client):
                code = proc.poll()
                if code is not None:
                    return Outcome(False, f"etcd exited with status {code} before it was "
                                          f"healthy: {log_tail(log)}")
                if time.monotonic() > deadline:
                    return Outcome(False, f"etcd not healthy within {timeout:g}s: "
                                          f"{log_tail(log)}")
                time.sleep(POLL_SECONDS)
            return self._write(mnt, client, proc.poll, log, deadline)
        finally:
            kill_group(proc)

    def _write(self, mnt: Path, client: int, poll: Any, log: Path, deadline: float) -> Outcome:
        marker = os.open(mnt / CONTROL_DIR / MARKER_FILE, os.O_WRONLY | os.O_APPEND)
        try:
            for n, w in enumerate(plan_writes(self.puts)):
                if time.monotonic() > deadline:
                    return Outcome(False, f"only {n} of {self.puts} writes within the timeout")
                # The intent first: a crash before the answer may keep the write or not.
                os.write(marker, (json.dumps(w.marker(intent=True)) + "\n").encode())
                try:
                    if w.value is None:
                        kv.delete(client, w.key)
                    else:
                        kv.put(client, w.key, w.value)
                except kv.EtcdKVError as e:
                    code = poll()
                    why = f"etcd exited with status {code}" if code is not None else str(e)
                    return Outcome(False, f"write {n} ({w.key}) failed: {why}: {log_tail(log)}")
                # Acknowledged: only now may the marker be recorded.
                os.write(marker, (json.dumps(w.marker()) + "\n").encode())
        finally:
            os.close(marker)
        return Outcome(True, f"etcd bootstrapped and acknowledged {self.puts} writes")
