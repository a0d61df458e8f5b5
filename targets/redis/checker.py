"""The `redis` checker: start redis-server on a crash state, read every acknowledged key.

Redis runs on the state directory itself (the mount root was its `--dir`)
with the recorded `appendfsync`, on a free loopback port, in its own
process group, its log in the scratch directory. It may repair the state
as it loads (a torn AOF tail is truncated in place, `aof-load-truncated`):
each state is a fresh copy, so that is what an operator would see too.
PONG within `limit()` seconds, then every acknowledged key read back as
acknowledged, is ok; an exit is `unrecoverable` (Redis says why in its
last log line), no PONG in time a `hang`, a wrong or missing key
`data-loss`. The group is always killed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut import ports
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
)
from powercut.explorer.verdict import Verdict
from powercut.process import Child, Exit, log_text
from powercut.targets.redis import server
from powercut.targets.redis.resp import Connection, RedisReplyError
from powercut.trace import Op


class RedisChecker(Checker):
    """Starts redis-server on each state; PONG and every acknowledged key read back is ok."""

    name = "redis"
    uses_markers = True

    def __init__(self, binary: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.binary = Path(binary)
        self.version = server.PROGRAM.version(self.binary)
        self.appendfsync = str(workload.get("appendfsync") or "always")
        self.timeout = timeout

    def describe(self) -> str:
        return f"redis ({self.binary} {self.version}, appendfsync {self.appendfsync})"

    def identity(self) -> str:
        return (f"{self.describe()} binary={file_fingerprint(self.binary)} "
                f"timeout={self.timeout:g}")

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        want = durability.expected(markers)
        with scratch_dir(scratch) as work:
            return ports.retrying(
                1, lambda taken, attempt: self._run_once(
                    directory, taken[0], work / f"redis-{attempt}.log", want),
                "redis-server could not bind a loopback port in {tries} tries")

    def _run_once(self, directory: Path, port: int, log: Path,
                  want: durability.Expectation) -> Verdict | None:
        """The verdict, or None when Redis lost a race for its port (try again)."""
        argv = server.argv(self.binary, directory, port, self.appendfsync)
        with Child(argv, log) as child:
            state = server.wait_ready(child, port, time.monotonic() + self.limit())
            if state == "exited":
                exit = child.poll()
                if server.BIND_FAILED.search(log_text(log, 1 << 16)):
                    return None
                return self._failed("unrecoverable", child, exit)
            if state == "timeout":
                child.kill(grace=0)  # a hung server gets no graceful exit
                return self._failed("hang", child, None)
            return self._read_back(child, port, want)

    def _read_back(self, child: Child, port: int, want: durability.Expectation) -> Verdict:
        evidence = {"argv": child.argv}
        try:
            with Connection(port, max(1.0, self.limit())) as conn:
                missing = durability.lost(want, lambda key: server.call(conn, "GET", key))
        except (OSError, RedisReplyError) as e:
            # It answered PING, yet cannot answer a read: it did not really recover.
            exit = child.poll()
            kind = "unrecoverable" if exit is not None else "hang"
            return self._failed(kind, child, exit, {"read_error": str(e)})
        if missing:
            return durability.data_loss(missing, child.elapsed, evidence)
        return Verdict("ok", duration=child.elapsed, evidence=evidence)

    def _failed(self, kind: str, child: Child, exit: Exit | None,
                evidence: dict[str, object] | None = None) -> Verdict:
        """failure_verdict with Redis's own cause line (its log prefix taken out)."""
        verdict = failure_verdict(kind, child, exit, evidence=evidence)
        found = server.cause(log_text(child.log))
        if kind != "unrecoverable" or found is None or exit is None or exit.signal:
            return verdict
        return dataclasses.replace(verdict, signature=found.signature, excerpt=found.excerpt)
