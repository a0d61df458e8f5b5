"""Workload `etcd-cluster`: three etcd members on loopback bootstrap one cluster under one mount.

Members `node1`..`node3` keep their data dirs `node1/`..`node3/` under the
mount, so one trace holds all three and every crash point is a crash point
of all of them at once (a correlated power cut). The member of an op is the
first component of its path; the recorder also stamps it on each op as the
extra field `member` (see `members` and `RecorderFS.members`).

A member stores its peer URL in its WAL and db at bootstrap and, restarted
with `--initial-cluster-state existing`, dials the others at their *stored*
peer URLs whatever the flags say (tried: fresh peer ports leave the cluster
without a leader). So the header records each member's peer port, and the
`etcd-cluster` checker restarts members on those same ports.

Once every member is healthy, `puts` acknowledged writes go to node1 (intent
and acknowledgement markers, as in `etcd-writes`); then all are stopped.
Every process is killed in `finally`, whatever happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut import ports
from powercut.process import Child
from powercut.recorder.workload import GRACE_SECONDS, Outcome, start
from powercut.targets.etcd import binary as binaries
from powercut.targets.etcd.workloads import clean_env, send_writes, wait_healthy

MEMBERS = ("node1", "node2", "node3")
DEFAULT_CLUSTER_PUTS = 3


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
    puts: int = DEFAULT_CLUSTER_PUTS
    name: str = "etcd-cluster"

    @classmethod
    def with_binary(cls, etcd_bin: Path | str | None = None, puts: int = DEFAULT_CLUSTER_PUTS
                    ) -> EtcdCluster:
        found = binaries.for_recording(etcd_bin)
        peers: list[int] = []
        while len(peers) < len(MEMBERS):
            port = ports.stable_port()
            if port not in peers:
                peers.append(port)
        return cls(found, binaries.version(found), tuple(peers), puts)

    @property
    def members(self) -> tuple[str, ...]:
        """Path prefixes naming each op's member (the recorder stamps `member`)."""
        return MEMBERS

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "etcd_bin": str(self.etcd_bin),
                "etcd_version": self.version, "etcd_sha256": binaries.sha256(self.etcd_bin),
                "puts": self.puts,
                "members": [{"name": m, "data_dir": m, "peer_port": p}
                            for m, p in zip(MEMBERS, self.peer_ports, strict=True)]}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        peers = dict(zip(MEMBERS, self.peer_ports, strict=True))
        started = time.monotonic()
        children: dict[str, Child] = {}
        with ports.reserved(len(MEMBERS)) as taken:
            clients = dict(zip(MEMBERS, taken, strict=True))
            try:
                for m in MEMBERS:
                    argv = member_argv(str(self.etcd_bin), m, mnt / m, clients[m], peers[m],
                                       initial_cluster(peers), "new")
                    children[m] = start(argv, workdir / f"{m}.log", env=clean_env())
                for m in MEMBERS:  # all start at once; each is waited for in turn
                    failed = wait_healthy(children[m], clients[m], workdir / f"{m}.log",
                                          timeout, started, what=m)
                    if failed is not None:
                        return failed
                failed = send_writes(mnt, clients["node1"], self.puts, started + timeout)
                return failed or Outcome(True, f"three members healthy; {self.puts} writes "
                                               "acknowledged")
            finally:
                for child in children.values():
                    child.kill(GRACE_SECONDS)
