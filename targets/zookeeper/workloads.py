"""Workload `zookeeper`: a standalone ZooKeeper server takes `writes` znode writes on the mount.

The server keeps its snapshots in `<mnt>/data` and its transaction log in
`<mnt>/datalog` (both made at its first start, so the recording sees
them born). Once a kazoo client has a session, `/kv` is created, then
`writes` requests: fresh keys created as `/kv/<key>`, every tenth an
overwrite (a `set`) of an earlier key, one delete (the plan of every
key-value target, `targets.writes`). An intent marker goes before each
request and an acknowledgement once the server replied, which it does only
after the transaction is in the fdatasynced log. Then the power cut:
SIGKILL of the JVM with the session still open.
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
from powercut.recorder.workload import Markers, Outcome, start
from powercut.targets.writes import Write, plan_writes
from powercut.targets.zookeeper import binary, server
from powercut.targets.zookeeper.binary import ZooKeeper

DEFAULT_WRITES = 20
EXIT_WAIT = 1.0  # after a failed request: time for the server to finish exiting, if it is
ROOT = "/kv"


def path(key: str) -> str:
    return f"{ROOT}/{key}"


def send(zk: KazooClient, markers: Markers, writes: list[Write]) -> None:
    made: set[str] = set()
    for w in writes:
        # The intent first: a crash before the reply may keep the write or not.
        markers.write(w.marker(intent=True))
        if w.value is None:
            zk.delete(path(w.key))
            made.discard(w.key)
        elif w.key in made:
            zk.set(path(w.key), w.value.encode())
        else:
            zk.create(path(w.key), w.value.encode())
            made.add(w.key)
        markers.write(w.marker())  # the server replied: only now may the marker be recorded


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
        return cls(binary.for_recording(jar), **fields)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "zookeeper_version": self.zookeeper.version,
                "java_version": self.zookeeper.java_version, "writes": self.writes,
                "data_dir": self.data_dir, "data_log_dir": self.data_log_dir,
                "pre_alloc_kb": self.pre_alloc_kb}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        log = workdir / "zookeeper.log"
        deadline = time.monotonic() + timeout
        with ports.reserved(1) as [port]:
            cfg = workdir / "zoo.cfg"
            cfg.write_text(server.config(mnt, port, self.header()))
            child = start(server.argv(self.zookeeper, cfg, workdir), log, cwd=workdir)
            zk = None
            try:
                zk = server.connect(port, deadline, lambda: child.poll() is not None)
                if zk is None:
                    gone = child.poll() is not None
                    how = "exited" if gone else "did not serve in time"
                    return Outcome(False, f"zookeeper {how}: {last_lines(log)}", exited=gone)
                try:
                    zk.create(ROOT)
                    with Markers(mnt) as markers:
                        send(zk, markers, plan_writes(self.writes))
                except KazooException as e:
                    return Outcome(False, f"a write failed ({type(e).__name__}): "
                                          f"{last_lines(log)}",
                                   exited=child.wait(EXIT_WAIT) is not None)
                return Outcome(True, f"zookeeper {self.zookeeper.version} acknowledged "
                                     f"{self.writes} writes")
            finally:
                child.kill(grace=0)  # the power cut, with the session still open
                server.close(zk)
