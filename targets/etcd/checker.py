"""The `etcd` checker: start the real etcd on a crash state and see whether it becomes healthy.

The state directory is the mount root of the trace: the data dir is
`workload["data_dir"]` under it (default `data.etcd`) and the member name
`workload["member_name"]`. etcd runs as a single member on free loopback
ports (the kit's `ServerChecker`: own process group, log file, port
retries, always killed). `GET /health` is polled in-process with short
socket timeouts while the process is watched: healthy, then every
acknowledged key read back, is ok; an exit is unrecoverable (its cause in
etcd's own grammar, `logs`), neither within the timeout a hang. The short
heartbeat and election timeout only make a single member elect itself
sooner; no flag changes what etcd recovers (never `--force-new-cluster` or
the like).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut.explorer.checkers.base import DEFAULT_TIMEOUT
from powercut.explorer.checkers.signature import Cause
from powercut.targets.etcd import client as kv
from powercut.targets.etcd import logs
from powercut.targets.etcd.binary import ETCD, clean_env
from powercut.targets.kit import Launch, ServerChecker

FAST_ELECTION = ["--heartbeat-interval", "10", "--election-timeout", "100"]


class EtcdChecker(ServerChecker[int]):
    """Starts a real etcd on each state; healthy within the timeout is ok."""

    name = "etcd"
    ports = 2
    read_errors = (kv.EtcdKVError,)

    def __init__(self, binary: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(binary, ETCD.version(Path(binary)), timeout=timeout)
        self.data_dir = str(workload.get("data_dir") or "data.etcd")
        self.member_name = str(workload.get("member_name") or "default")

    def describe(self) -> str:
        return f"etcd ({self.binary} {self.version})"

    def settings(self) -> str:
        return f"data_dir={self.data_dir} name={self.member_name}"

    def argv(self, data_dir: Path, client: int, peer: int) -> list[str]:
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        return [
            str(self.binary), "--name", self.member_name, "--data-dir", str(data_dir),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{self.member_name}={peer_url}", *FAST_ELECTION,
        ]

    def launch(self, state: Path, ports: list[int], work: Path) -> Launch:
        return Launch(self.argv(state / self.data_dir, *ports), env=clean_env())

    def probe(self, at: Launch, timeout: float) -> int | None:
        client = at.ports[0]
        return client if kv.healthy(client, min(timeout, kv.HEALTH_TIMEOUT)) else None

    def read(self, client: int, keys: Sequence[str]) -> dict[str, str | None]:
        return {key: kv.get(client, key, self.timeout) for key in keys}

    def cause(self, log: str) -> Cause | None:
        return logs.cause(log)
