"""The `redis` target: Redis 7 with an append-only file; acknowledged writes read back.

Workload `redis` (redis-server on the mount, `appendonly yes`,
`appendfsync always` unless `--appendfsync` says otherwise, `--writes N`
SETs, overwrites and a DEL); checker `redis` (start redis-server on the
state, wait for PONG, read every acknowledged key back). redis-server is
found by version and digest (the kit's `Program`), or given with
`--redis-bin`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut.errors import PowercutError
from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.targets.base import Option, Target
from powercut.targets.kit import writes_option
from powercut.targets.redis import server
from powercut.targets.redis.checker import RedisChecker
from powercut.targets.redis.workload import DEFAULT_WRITES, RedisWrites
from powercut.trace import Trace


class RedisTarget(Target):
    name = "redis"
    summary = "Redis 7 with an append-only file: acknowledged SETs and DELs"
    programs = (server.PROGRAM,)
    processes = ("redis-server",)
    options = (
        Option("--redis-bin", "redis-server binary [record: the one installed; explore: an "
               "installed one of the version the trace was recorded with].",
               ("record", "explore"), ("redis",), metavar="PATH"),
        writes_option("redis"),
        Option("--appendfsync", "Redis's appendfsync for the redis workload: always "
               "(default), everysec or no.", ("record",), ("redis",), metavar="POLICY"),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        appendfsync = options.get("appendfsync") or "always"
        if appendfsync not in server.APPENDFSYNC:
            raise PowercutError(f"--appendfsync {appendfsync!r}: expected one of "
                                f"{', '.join(server.APPENDFSYNC)}")
        writes = options.get("writes")
        return RedisWrites.with_binary(options.get("redis_bin"), appendfsync=appendfsync,
                                       writes=DEFAULT_WRITES if writes is None else writes)

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        found = server.PROGRAM.matching(trace.workload, options.get("redis_bin"))
        return RedisChecker(found, trace.workload, timeout=timeout)


TARGET = RedisTarget()
