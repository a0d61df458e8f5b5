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

import json
import os
import random
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut.recorder import workload_etcd_kv as kv
from powercut.recorder.markers import CONTROL_DIR, MARKER_FILE
from powercut.recorder.workload_etcd_writes import plan_writes
from powercut.recorder.workloads import (
    POLL_SECONDS,
    EtcdBootstrap,
    Outcome,
    clean_env,
    etcd_healthy,
    free_port,
    kill_group,
    log_tail,
    spawn,
)

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


def _free_fixed_port() -> int:
    # Below the kernel's ephemeral range (32768 up): the checker reuses these
    # ports, and no port the kernel hands out to another program can take them.
    while True:
        port = random.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


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
        boot = EtcdBootstrap.with_binary(etcd_bin)
        peers: list[int] = []
        while len(peers) < len(MEMBERS):
            port = _free_fixed_port()
            if port not in peers:
                peers.append(port)
        return cls(boot.etcd_bin, boot.version, tuple(peers), puts)

    @property
    def members(self) -> tuple[str, ...]:
        """Path prefixes naming each op's member (the recorder stamps `member`)."""
        return MEMBERS

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "etcd_bin": str(self.etcd_bin),
                "etcd_version": self.version, "puts": self.puts,
                "members": [{"name": m, "data_dir": m, "peer_port": p}
                            for m, p in zip(MEMBERS, self.peer_ports, strict=True)]}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        peers = dict(zip(MEMBERS, self.peer_ports, strict=True))
        clients = {m: free_port() for m in MEMBERS}
        procs: dict[str, subprocess.Popen[bytes]] = {}
        deadline = time.monotonic() + timeout
        try:
            for m in MEMBERS:
                argv = member_argv(str(self.etcd_bin), m, mnt / m, clients[m], peers[m],
                                   initial_cluster(peers), "new")
                procs[m] = spawn(argv, workdir / f"{m}.log", env=clean_env())
            waiting = set(MEMBERS)
            while waiting:
                for m in sorted(waiting):
                    code = procs[m].poll()
                    if code is not None:
                        tail = log_tail(workdir / f"{m}.log")
                        return Outcome(False, f"{m} exited with status {code} before the "
                                              f"cluster was healthy: {tail}")
                    if etcd_healthy(clients[m]):
                        waiting.discard(m)
                if time.monotonic() > deadline:
                    return Outcome(False, f"{', '.join(sorted(waiting))} not healthy within "
                                          f"{timeout:g}s")
                time.sleep(POLL_SECONDS)
            return self._write(mnt, clients["node1"], deadline)
        finally:
            for proc in procs.values():
                kill_group(proc)

    def _write(self, mnt: Path, client: int, deadline: float) -> Outcome:
        marker = os.open(mnt / CONTROL_DIR / MARKER_FILE, os.O_WRONLY | os.O_APPEND)
        try:
            for n, w in enumerate(plan_writes(self.puts)):
                if time.monotonic() > deadline:
                    return Outcome(False, f"only {n} of {self.puts} writes within the timeout")
                os.write(marker, (json.dumps(w.marker(intent=True)) + "\n").encode())
                try:
                    if w.value is None:
                        kv.delete(client, w.key)
                    else:
                        kv.put(client, w.key, w.value)
                except kv.EtcdKVError as e:
                    return Outcome(False, f"write {n} ({w.key}) failed: {e}")
                os.write(marker, (json.dumps(w.marker()) + "\n").encode())
        finally:
            os.close(marker)
        return Outcome(True, f"three members healthy; {self.puts} writes acknowledged")
