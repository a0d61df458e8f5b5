"""The `zookeeper` checker: start ZooKeeper on a crash state, wait until it serves, read back.

The state is the mount root of the trace; the data dirs are the ones the
header names under it. The server runs as the workload ran it (`server`)
on a free loopback port, through the kit's `ServerChecker` (own process
group, port retries, always killed), with its config, temp files and log
in the scratch dir. A kazoo session within the time limit means it loaded
its database; an exit is `unrecoverable` (the root cause of its exception
is the signature), neither in time is a `hang`; then every acknowledged
key must read back as `/kv/<key>`, else `data-loss`. The client's session
is closed before the JVM is killed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError

from powercut.explorer.checkers.base import DEFAULT_TIMEOUT, file_fingerprint
from powercut.explorer.checkers.signature import Cause
from powercut.targets.kit import Launch, ServerChecker
from powercut.targets.zookeeper import server
from powercut.targets.zookeeper.binary import ZooKeeper
from powercut.targets.zookeeper.workloads import path


class ZooKeeperChecker(ServerChecker[KazooClient]):
    """Starts a real ZooKeeper on each state; serving every acknowledged znode is ok."""

    name = "zookeeper"
    bind_failed = server.BIND_FAILED
    read_errors = (KazooException,)

    def __init__(self, zookeeper: ZooKeeper, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(zookeeper.jar, zookeeper.version, timeout=timeout)
        self.zookeeper = zookeeper
        self.workload = dict(workload)

    def describe(self) -> str:
        zk = self.zookeeper
        return f"zookeeper ({zk.jar} {zk.version}, java {zk.java_version})"

    def settings(self) -> str:
        cfg = server.config(Path("<state>"), 0, self.workload).replace("\n", " ")
        return (f"java={file_fingerprint(self.zookeeper.java)} flags={server.JVM_FLAGS} "
                f"config={cfg}")

    def launch(self, state: Path, ports: list[int], work: Path) -> Launch:
        cfg = work / "zoo.cfg"
        cfg.write_text(server.config(state, ports[0], self.workload))
        return Launch(server.argv(self.zookeeper, cfg, work), cwd=work)

    def connect(self, at: Launch, deadline: float, exited: Callable[[], bool]
                ) -> KazooClient | None:
        return server.connect(at.ports[0], deadline, exited)

    def read(self, client: KazooClient, keys: Sequence[str]) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for key in keys:
            try:
                values[key] = client.get(path(key))[0].decode("utf-8", "replace")
            except NoNodeError:
                values[key] = None
        return values

    def disconnect(self, client: KazooClient) -> None:
        server.close(client)  # while the server lives: the session ends at once

    def cause(self, log: str) -> Cause | None:
        return server.cause(log)
