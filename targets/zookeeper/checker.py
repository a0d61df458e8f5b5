"""The `zookeeper` checker: start ZooKeeper on a crash state, wait until it serves, read back.

The state is the mount root of the trace; the data dirs are the ones the
header names under it. The server runs as the workload ran it (`server`)
on a free loopback port, in its own process group, with its config, temp
files and log in the scratch dir. A kazoo session within `limit()` seconds
means it loaded its database; an exit is `unrecoverable` (the root cause
of its exception is the signature), neither in time is a `hang`; then
every acknowledged key must read back as `/kv/<key>`, else `data-loss`.
The client's session is closed and the JVM killed whatever happened.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

from powercut import ports
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    exit_verdict,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
)
from powercut.explorer.verdict import Verdict
from powercut.process import Child, log_text
from powercut.targets.zookeeper import server
from powercut.targets.zookeeper.binary import ZooKeeper
from powercut.targets.zookeeper.workloads import path
from powercut.trace import Op


class ZooKeeperChecker(Checker):
    """Starts a real ZooKeeper on each state; serving every acknowledged znode is ok."""

    name = "zookeeper"
    uses_markers = True

    def __init__(self, zookeeper: ZooKeeper, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.zookeeper = zookeeper
        self.workload = dict(workload)
        self.timeout = timeout

    def describe(self) -> str:
        zk = self.zookeeper
        return f"zookeeper ({zk.jar} {zk.version}, java {zk.java_version})"

    def identity(self) -> str:
        cfg = server.config(Path("<state>"), 0, self.workload).replace("\n", " ")
        return (f"{self.describe()} jar={file_fingerprint(self.zookeeper.jar)} "
                f"java={file_fingerprint(self.zookeeper.java)} flags={server.JVM_FLAGS} "
                f"config={cfg} timeout={self.timeout:g}")

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        want = durability.expected(markers)
        with scratch_dir(scratch) as work:
            return ports.retrying(
                1, lambda taken, attempt: self._run_once(
                    directory.absolute(), taken[0], work / f"try-{attempt}", want),
                "zookeeper could not bind a loopback port in {tries} tries")

    def _run_once(self, state: Path, port: int, work: Path,
                  want: durability.Expectation) -> Verdict | None:
        """The verdict, or None when the server lost a race for its port (try again)."""
        work.mkdir(parents=True, exist_ok=True)
        cfg = work / "zoo.cfg"
        cfg.write_text(server.config(state, port, self.workload))
        started = time.monotonic()
        with Child(server.argv(self.zookeeper, cfg, work), work / "zookeeper.log",
                   cwd=work) as child:
            zk = server.connect(port, started + self.limit(), lambda: child.poll() is not None)
            try:
                if zk is not None:
                    return self._read_back(child, zk, want)
                exit = child.poll()
                if exit is None:
                    child.kill(grace=0)  # a hung server gets no graceful exit
                    return failure_verdict("hang", child, None)
                if server.BIND_FAILED.search(log_text(child.log, 1 << 16)):
                    return None
                return exit_verdict("unrecoverable", child, exit, server.failure_line)
            finally:
                server.close(zk)  # while the server lives: the session ends at once

    def _read_back(self, child: Child, zk: KazooClient,
                   want: durability.Expectation) -> Verdict:
        evidence = {"argv": child.argv}

        def read(key: str) -> str | None:
            try:
                return zk.get(path(key))[0].decode("utf-8", "replace")
            except NoNodeError:
                return None

        try:
            missing = durability.lost(want, read)
        except KazooException as e:
            # It served, yet cannot answer a read: it did not really recover.
            exit = child.poll()
            if exit is not None:
                return exit_verdict("unrecoverable", child, exit, server.failure_line)
            child.kill(grace=0)
            return failure_verdict("hang", child, None,
                                   evidence={"read_error": type(e).__name__})
        if missing:
            return durability.data_loss(missing, child.elapsed, evidence)
        return Verdict("ok", duration=child.elapsed, evidence=evidence)
