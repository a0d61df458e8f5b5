"""Running a standalone ZooKeeper server on a directory: its config, command line and client.

`ZooKeeperServerMain` runs straight on the JRE: `zkServer.sh` would source
/etc/zookeeper, log to /var/log and write a pid file into the data dir. The
config file and the JVM's temp files live in a scratch dir, never in the
state; the data live in `<root>/data` (snapshots) and `<root>/datalog` (the
transaction log). `forceSync=yes` (the default) fdatasyncs the log before a
reply; `preAllocSize` is small so a log is 64 KiB, not a sparse 64 MiB. The
admin server is off (it would bind :8080), the client port is a free
loopback port. The JVM flags only make it start sooner.

The client is kazoo. Kazoo logs every failed connection attempt; a server
that is not up yet is expected here, so its logger is kept quiet.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from powercut.explorer.checkers.signature import Cause, line_cause
from powercut.targets.zookeeper.binary import ZooKeeper

MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
JVM_FLAGS = ("-XX:-UsePerfData",  # no /tmp/hsperfdata_<user>/<pid>
             "-XX:TieredStopAtLevel=1",  # C1 only: starts sooner
             "-XX:+UseSerialGC", "-Xms32m", "-Xmx256m",
             "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
             "-Dorg.slf4j.simpleLogger.showDateTime=false")
PRE_ALLOC_KB = 64
# The session timeout kazoo asks for is also how long it waits for the answer to a connect
# request. A server that took a connection before its database was loaded may never answer
# it (it fails closing it: NullPointerException on zkDb); 2 s and kazoo connects again.
# The server grants at least 2 ticks (4 s) anyway.
SESSION_SECONDS = 2.0
POLL = 0.05
BIND_FAILED = re.compile(r"BindException|Address already in use")

logging.getLogger("kazoo").addHandler(logging.NullHandler())
logging.getLogger("kazoo").propagate = False


def config(root: Path, port: int, workload: Mapping[str, object]) -> str:
    """zoo.cfg for a server whose data dirs are under `root` (the mount or a state)."""
    lines = {
        "tickTime": "2000",
        "dataDir": str(root / str(workload.get("data_dir") or "data")),
        "dataLogDir": str(root / str(workload.get("data_log_dir") or "datalog")),
        "clientPort": str(port),
        "clientPortAddress": "127.0.0.1",
        "admin.enableServer": "false",
        "autopurge.purgeInterval": "0",
        "forceSync": "yes",
        "preAllocSize": str(workload.get("pre_alloc_kb") or PRE_ALLOC_KB),
    }
    if workload.get("snap_count"):
        lines["snapCount"] = str(workload["snap_count"])
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def argv(zk: ZooKeeper, cfg: Path, tmp: Path) -> list[str]:
    return [str(zk.java), *JVM_FLAGS, f"-Djava.io.tmpdir={tmp}", "-cp", zk.classpath, MAIN,
            str(cfg)]


def connect(port: int, deadline: float, exited: Callable[[], bool]) -> KazooClient | None:
    """A connected kazoo client once the server serves; None if it exited first or the
    deadline passed (the client then stopped)."""
    zk = KazooClient(hosts=f"127.0.0.1:{port}", timeout=SESSION_SECONDS,
                     connection_retry=KazooRetry(max_tries=-1, delay=POLL, backoff=1,
                                                 max_jitter=0.0, max_delay=POLL))
    live = zk.start_async()
    while not live.wait(POLL):
        if exited() or time.monotonic() > deadline:
            close(zk)
            return None
    return zk


def close(zk: KazooClient | None) -> None:
    """End the session (or a reconnection attempt) and the client's threads."""
    if zk is None:
        return
    with contextlib.suppress(KazooTimeoutError):
        zk.stop()
    zk.close()


_EXCEPTION = re.compile(r"^(?:Caused by: )?(?P<what>[\w$.]+(?:Exception|Error)(?::\s.*)?)$")


def cause(log: str) -> Cause | None:
    """The root cause of the Java exception that ended a server: in the first stack trace
    after the first ERROR line (else anywhere), its last `Caused by:`, else the exception
    itself."""
    lines = [x.strip() for x in log.splitlines()]
    start = next((i for i, x in enumerate(lines) if " ERROR " in x), 0)
    found: tuple[str, int] | None = None
    for i in range(start, len(lines)):
        m = _EXCEPTION.match(lines[i])
        if m is None:
            if found is not None and not lines[i].startswith(("at ", "...")):
                break  # the stack trace ended
            continue
        if found is None or lines[i].startswith("Caused by: "):
            found = (m.group("what"), i)
    return line_cause(log, found)
