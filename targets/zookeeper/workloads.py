"""Workload `zookeeper`: a standalone ZooKeeper server takes `writes` znode writes on the mount.

The server keeps its snapshots in `<mnt>/data` and its transaction log in
`<mnt>/datalog` (both made at its first start, so the recording sees
them born). Once a kazoo client has a session, `/kv` is created, then
`writes` requests of the plan every key-value target sends, through the
kit's acknowledged-write loop: fresh keys created as `/kv/<key>`,
overwrites as `set`s, one delete. The server replies only after the
transaction is in the fdatasynced log. Then the power cut: SIGKILL of the
JVM with the session still open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from powercut import ports
from powercut.process import last_lines
from powercut.recorder.workload import Markers, WorkloadResult, start
from powercut.targets.kit import Server, Write, plan_writes, send_acknowledged
from powercut.targets.zookeeper import server
from powercut.targets.zookeeper.binary import ZOOKEEPER, ZooKeeper, with_java

DEFAULT_WRITES = 20
ROOT = "/kv"


def path(key: str) -> str:
    return f"{ROOT}/{key}"


def requests(zk: KazooClient) -> Any:
    """The request of each planned write: create a key's znode first, then set it."""
    made: set[str] = set()

    def request(w: Write) -> None:
        if w.value is None:
            zk.delete(path(w.key))
            made.discard(w.key)
        elif w.key in made:
            zk.set(path(w.key), w.value.encode())
        else:
            zk.create(path(w.key), w.value.encode())
            made.add(w.key)
    return request


@dataclass(frozen=True)
class ZooKeeperWrites:
    """A standalone ZooKeeper under the mount taking `writes` acknowledged znode writes."""

    zookeeper: ZooKeeper
    writes: int = DEFAULT_WRITES
    name: str = "zookeeper"
    data_dir: str = "data"
    data_log_dir: str = "datalog"
    pre_alloc_kb: int = server.PRE_ALLOC_KB

    @classmethod
    def with_jar(cls, jar: Path | str | None = None, **fields: Any) -> Self:
        """This workload with `--zookeeper-jar` (default: the jar Debian installed)."""
        return cls(with_java(ZOOKEEPER.for_recording(jar)), **fields)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, **ZOOKEEPER.header(self.zookeeper.jar),
                "java_version": self.zookeeper.java_version, "writes": self.writes,
                "data_dir": self.data_dir, "data_log_dir": self.data_log_dir,
                "pre_alloc_kb": self.pre_alloc_kb}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        log = workdir / "zookeeper.log"
        deadline = time.monotonic() + timeout
        with ports.reserved(1) as [port]:
            cfg = workdir / "zoo.cfg"
            cfg.write_text(server.config(mnt, port, self.header()))
            child = start(server.argv(self.zookeeper, cfg, workdir), log, cwd=workdir)
            # The power cut, with the session still open: the JVM is killed first.
            with Server(child, lambda limit, exited: server.connect(port, limit, exited)) as zk:
                client = zk.wait(deadline)
                try:
                    if client is None:
                        how = "exited" if zk.exit is not None else "did not serve in time"
                        return WorkloadResult(False, f"zookeeper {how}: {last_lines(log)}",
                                              exited=zk.exit is not None)
                    try:
                        client.create(ROOT)
                    except KazooException as e:
                        return WorkloadResult(False, f"creating {ROOT} failed "
                                                     f"({type(e).__name__})")
                    with Markers(mnt) as markers:
                        failed = send_acknowledged(
                            markers.write, plan_writes(self.writes), requests(client),
                            deadline=deadline, errors=(KazooException,),
                            why=lambda: last_lines(log))
                    gone = failed is not None and zk.exited()  # before the power cut below
                finally:
                    child.kill(grace=0)
                    server.close(client)
        if failed is not None:
            return WorkloadResult(False, failed, exited=gone)
        return WorkloadResult(True, f"zookeeper {self.zookeeper.version} acknowledged "
                                    f"{self.writes} writes")
