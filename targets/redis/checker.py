"""The `redis` checker: start redis-server on a crash state, read every acknowledged key.

Redis runs on the state directory itself (the mount root was its `--dir`)
with the recorded `appendfsync`, on a free loopback port (the kit's
`ServerChecker` starts, waits, retries a lost port and kills). It may
repair the state as it loads (a torn AOF tail is truncated in place,
`aof-load-truncated`): each state is a fresh copy, so that is what an
operator would see too. PONG within the time limit, then every
acknowledged key read back as acknowledged, is ok; an exit is
`unrecoverable` (Redis says why in its last log line), no PONG in time a
`hang`, a wrong or missing key `data-loss`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut.explorer.checkers.base import DEFAULT_TIMEOUT
from powercut.explorer.checkers.signature import Cause
from powercut.targets.kit import Launch, ServerChecker
from powercut.targets.redis import server
from powercut.targets.redis.resp import Connection, RedisReplyError


class RedisChecker(ServerChecker[Connection]):
    """Starts redis-server on each state; PONG and every acknowledged key read back is ok."""

    name = "redis"
    read_errors = (OSError, RedisReplyError)

    def __init__(self, binary: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(binary, server.PROGRAM.version(Path(binary)), timeout=timeout)
        self.appendfsync = str(workload.get("appendfsync") or "always")

    def describe(self) -> str:
        return f"redis ({self.binary} {self.version}, appendfsync {self.appendfsync})"

    def launch(self, state: Path, ports: list[int], work: Path) -> Launch:
        return Launch(server.argv(self.binary, state, ports[0], self.appendfsync))

    def probe(self, at: Launch, timeout: float) -> Connection | None:
        return server.probe(at.ports[0], timeout)

    def read(self, client: Connection, keys: Sequence[str]) -> dict[str, str | None]:
        client.settimeout(max(1.0, self.limit()))
        return {key: server.call(client, "GET", key) for key in keys}

    def disconnect(self, client: Connection) -> None:
        server.close(client)

    def cause(self, log: str) -> Cause | None:
        return server.cause(log)
