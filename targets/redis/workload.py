"""Workload `redis`: redis-server with an append-only file on the mount, taking acknowledged writes.

Redis starts on the mount (`--dir`) with `appendonly yes` and the chosen
`appendfsync` (default `always`: every write is fsynced before its reply),
then takes `writes` requests of the shared plan (`powercut.targets.writes`):
SETs, overwrites and one DEL. An intent marker goes before each request
and the acknowledgement after Redis answered. Then it is killed with
SIGKILL, a power cut's view of it: a SHUTDOWN would fsync and rewrite.

The header records the redis-server version and digest, `appendfsync` and
the number of writes: all a checker needs to start the same Redis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from powercut import ports
from powercut.process import Child, last_lines
from powercut.recorder.workload import Markers, Outcome, start
from powercut.targets.redis import server
from powercut.targets.redis.resp import Connection, RedisReplyError
from powercut.targets.writes import plan_writes

DEFAULT_WRITES = 100
REPLY_TIMEOUT = 10.0
EXIT_WAIT = 1.0  # after a failed request: time for the server to finish exiting, if it is


@dataclass(frozen=True)
class RedisWrites:
    """Redis on the mount with an AOF, taking `writes` acknowledged writes."""

    binary: Path
    writes: int = DEFAULT_WRITES
    appendfsync: str = "always"
    name: str = "redis"

    @classmethod
    def with_binary(cls, redis_bin: str | Path | None, **fields: Any) -> Self:
        """This workload with `--redis-bin` (default: the redis-server installed)."""
        return cls(server.PROGRAM.for_recording(redis_bin), **fields)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, **server.PROGRAM.header(self.binary),
                "appendfsync": self.appendfsync, "writes": self.writes}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        log = workdir / "redis.log"
        deadline = time.monotonic() + timeout
        with ports.reserved(1) as (port,):
            child = start(server.argv(self.binary, mnt, port, self.appendfsync), log)
            try:
                state = server.wait_ready(child, port, deadline)
                if state != "ready":
                    return Outcome(False, f"redis-server {state} before it answered PING: "
                                          f"{last_lines(log)}", exited=state == "exited")
                return self._send(mnt, port, deadline, log, child)
            finally:
                child.kill(grace=0)  # SIGKILL: a crash, not a shutdown that syncs

    def _send(self, mnt: Path, port: int, deadline: float, log: Path, child: Child) -> Outcome:
        with Markers(mnt) as markers, Connection(port, REPLY_TIMEOUT) as conn:
            for i, w in enumerate(plan_writes(self.writes)):
                if time.monotonic() > deadline:
                    return Outcome(False, f"only {i} of {self.writes} writes within the timeout")
                markers.write(w.marker(intent=True))
                try:
                    if w.value is None:
                        server.call(conn, "DEL", w.key)
                    elif server.call(conn, "SET", w.key, w.value) != "OK":
                        return Outcome(False, f"SET {w.key} was not answered OK")
                except (OSError, RedisReplyError) as e:
                    gone = child.wait(EXIT_WAIT) is not None  # an error reply, or its exit
                    return Outcome(False, f"write {i} ({w.key}) failed: {e}: {last_lines(log)}",
                                   exited=gone)
                markers.write(w.marker())  # acknowledged: only now
        return Outcome(True, f"redis-server acknowledged {self.writes} writes "
                             f"(appendfsync {self.appendfsync})")
