"""Workload `redis`: redis-server with an append-only file on the mount, taking acknowledged writes.

Redis starts on the mount (`--dir`) with `appendonly yes` and the chosen
`appendfsync` (default `always`: every write is fsynced before its reply),
then takes `writes` requests of the shared plan through the kit's
acknowledged-write loop: SETs, overwrites and one DEL. Then it is killed
with SIGKILL, a power cut's view of it: a SHUTDOWN would fsync and rewrite.

The header records the redis-server version and digest, `appendfsync` and
the number of writes: all a checker needs to start the same Redis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from powercut import ports
from powercut.process import last_lines
from powercut.recorder.workload import Markers, WorkloadResult, start
from powercut.targets.kit import Server, Write, plan_writes, polling, send_acknowledged
from powercut.targets.redis import server
from powercut.targets.redis.resp import RedisReplyError

DEFAULT_WRITES = 100
REPLY_TIMEOUT = 10.0


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

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        log = workdir / "redis.log"
        deadline = time.monotonic() + timeout
        with ports.reserved(1) as (port,):
            child = start(server.argv(self.binary, mnt, port, self.appendfsync), log)
            connect = polling(lambda limit: server.probe(port, limit))
            # SIGKILL when it ends: a crash, not a shutdown that syncs.
            with Server(child, connect, disconnect=server.close) as redis:
                conn = redis.wait(deadline)
                if conn is None:
                    how = "exited" if redis.exit is not None else "timed out"
                    return WorkloadResult(False, f"redis-server {how} before it answered "
                                                 f"PING: {last_lines(log)}",
                                          exited=redis.exit is not None)
                conn.settimeout(REPLY_TIMEOUT)

                def request(w: Write) -> None:
                    if w.value is None:
                        server.call(conn, "DEL", w.key)
                    elif server.call(conn, "SET", w.key, w.value) != "OK":
                        raise RedisReplyError(f"SET {w.key} was not answered OK")

                with Markers(mnt) as markers:
                    failed = send_acknowledged(
                        markers.write, plan_writes(self.writes), request, deadline=deadline,
                        errors=(OSError, RedisReplyError), why=lambda: last_lines(log))
                gone = failed is not None and redis.exited()  # an error reply, or its exit
        if failed is not None:
            return WorkloadResult(False, failed, exited=gone)
        return WorkloadResult(True, f"redis-server acknowledged {self.writes} writes "
                                    f"(appendfsync {self.appendfsync})")
