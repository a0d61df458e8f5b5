"""The `zookeeper` target: a standalone ZooKeeper acknowledges znode writes, and must keep them.

Workload `zookeeper` (the server starts on the mount, then `--writes N`
acknowledged creates, sets and a delete) and checker `zookeeper` (start the
server on the state, wait until it serves, read every acknowledged znode
back). The jar is found by version and digest (`binary.ZOOKEEPER`), or
given with `--zookeeper-jar`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.targets.base import Option, Target
from powercut.targets.kit import writes_option
from powercut.targets.zookeeper.binary import JAVA, LOGGER, ZOOKEEPER, with_java
from powercut.targets.zookeeper.checker import ZooKeeperChecker
from powercut.targets.zookeeper.workloads import DEFAULT_WRITES, ZooKeeperWrites
from powercut.trace import Trace


class ZooKeeperTarget(Target):
    name = "zookeeper"
    summary = "ZooKeeper 3.8 standalone: acknowledged znode writes survive a power cut"
    programs = (ZOOKEEPER, JAVA, LOGGER)
    processes = ("java",)
    options = (
        Option("--zookeeper-jar", "ZooKeeper server jar [record: Debian's "
               "/usr/share/java/zookeeper.jar; explore: an installed jar of the version the "
               "trace was recorded with].", ("record", "explore"), ("zookeeper",),
               metavar="PATH"),
        writes_option("zookeeper"),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        writes = options.get("writes")
        return ZooKeeperWrites.with_jar(options.get("zookeeper_jar"),
                                        writes=DEFAULT_WRITES if writes is None else writes)

    def record_options(self, workload: Mapping[str, Any]) -> dict[str, Any]:
        writes = workload.get("writes")
        return {"writes": writes} if isinstance(writes, int) else {}

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        jar = ZOOKEEPER.matching(trace.workload, options.get("zookeeper_jar"))
        return ZooKeeperChecker(with_java(jar), trace.workload, timeout=timeout)


TARGET = ZooKeeperTarget()
