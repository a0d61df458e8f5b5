"""Workload `etcd-cluster`: three etcd members on loopback bootstrap one cluster under one mount.

Members `node1`..`node3` keep their data dirs `node1/`..`node3/` under the
mount, so one trace holds all three and every crash point is a crash point
of all of them at once (a correlated power cut). The member of an op is the
first component of its path.

A member stores its peer URL in its WAL and db at bootstrap and, restarted
with `--initial-cluster-state existing`, dials the others at their *stored*
peer URLs whatever the flags say (tried: fresh peer ports leave the cluster
without a leader). So the header records each member's peer port, and the
`etcd-cluster` checker restarts members on those same ports.

Once every member is healthy, `writes` acknowledged writes go to node1
(through the kit's acknowledged-write loop, as in `etcd-writes`); then all
are stopped. Every process is killed whatever happened.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut import ports
from powercut.recorder.workload import WorkloadResult, start
from powercut.targets.etcd.binary import ETCD, clean_env
from powercut.targets.etcd.workloads import member, send_writes, unhealthy

MEMBERS = ("node1", "node2", "node3")
DEFAULT_CLUSTER_WRITES = 3


def member_argv(etcd_bin: str, name: str, data_dir: Path, client: int, peer: int,
                initial_cluster: str, state: str) -> list[str]:
    """One member's command line (the recorder's bootstrap and the checker's restart)."""
    curl, purl = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    return [etcd_bin, "--name", name, "--data-dir", str(data_dir),
            "--listen-client-urls", curl, "--advertise-client-urls", curl,
            "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
            "--initial-cluster", initial_cluster, "--initial-cluster-state", state]


def initial_cluster(peers: dict[str, int]) -> str:
    return ",".join(f"{name}=http://127.0.0.1:{port}" for name, port in peers.items())


@dataclass(frozen=True)
class EtcdCluster:
    """Three members bootstrapping `node1/ node2/ node3/`, stopped once all are healthy."""

    etcd_bin: Path
    version: str
    peer_ports: tuple[int, ...]
    writes: int = DEFAULT_CLUSTER_WRITES
    name: str = "etcd-cluster"

    @classmethod
    def with_binary(cls, etcd_bin: Path | str | None = None,
                    writes: int = DEFAULT_CLUSTER_WRITES) -> EtcdCluster:
        found = ETCD.for_recording(etcd_bin)
        peers: list[int] = []
        while len(peers) < len(MEMBERS):
            port = ports.stable_port()
            if port not in peers:
                peers.append(port)
        return cls(found, ETCD.version(found), tuple(peers), writes)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "etcd_bin": str(self.etcd_bin), **ETCD.header(self.etcd_bin),
                "writes": self.writes,
                "members": [{"name": m, "data_dir": m, "peer_port": p}
                            for m, p in zip(MEMBERS, self.peer_ports, strict=True)]}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        peers = dict(zip(MEMBERS, self.peer_ports, strict=True))
        deadline = time.monotonic() + timeout
        with ports.reserved(len(MEMBERS)) as taken, ExitStack() as stack:
            clients = dict(zip(MEMBERS, taken, strict=True))
            members = {}
            for m in MEMBERS:  # all start at once; each is waited for in turn
                argv = member_argv(str(self.etcd_bin), m, mnt / m, clients[m], peers[m],
                                   initial_cluster(peers), "new")
                child = start(argv, workdir / f"{m}.log", env=clean_env())
                members[m] = stack.enter_context(member(child, clients[m]))
            for m, etcd in members.items():
                if etcd.wait(deadline) is None:
                    return WorkloadResult(False, unhealthy(etcd, m, timeout,
                                                           workdir / f"{m}.log"))
            failed = send_writes(mnt, clients["node1"], self.writes, deadline)
        if failed is not None:
            return WorkloadResult(False, failed)
        return WorkloadResult(True, f"three members healthy; {self.writes} writes "
                                    "acknowledged")
