"""The `etcd` checker: start the real etcd on a crash state and see whether it becomes healthy.

The state directory is the mount root of the trace: the data dir is
`workload["data_dir"]` under it (default `data.etcd`) and the member name
`workload["member_name"]`. etcd runs as a single member on free loopback
ports, in its own process group, its output in a log file. We poll
`GET /health` in-process with short socket timeouts while watching the
process: healthy is ok, an exit is unrecoverable, neither within the
timeout is a hang. The short heartbeat and election timeout only make a
single member elect itself sooner; no flag changes what etcd recovers
(never `--force-new-cluster` or the like). The group is always killed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut import ports
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
)
from powercut.explorer.verdict import Verdict
from powercut.process import Child, log_text
from powercut.targets.etcd import binary as binaries
from powercut.targets.etcd import client as kv
from powercut.trace import Op

POLL = 0.05
BIND_FAILED = re.compile(r"address already in use", re.IGNORECASE)


class EtcdChecker(Checker):
    """Starts a real etcd on each state; healthy within the timeout is ok."""

    name = "etcd"
    uses_markers = True  # acknowledged writes are read back after recovery

    def __init__(self, binary: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.binary = Path(binary)
        self.version = binaries.version(self.binary)
        self.data_dir = str(workload.get("data_dir") or "data.etcd")
        self.member_name = str(workload.get("member_name") or "default")
        self.timeout = timeout

    def describe(self) -> str:
        return f"etcd ({self.binary} {self.version})"

    def identity(self) -> str:
        return (f"{self.describe()} binary={file_fingerprint(self.binary)} "
                f"data_dir={self.data_dir} name={self.member_name} timeout={self.timeout:g}")

    def argv(self, data_dir: Path, client: int, peer: int) -> list[str]:
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        return [
            str(self.binary), "--name", self.member_name, "--data-dir", str(data_dir),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{self.member_name}={peer_url}",
            "--heartbeat-interval", "10", "--election-timeout", "100",
        ]

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        data_dir = directory / self.data_dir
        want = durability.expected(markers)
        with scratch_dir(scratch) as work:
            return ports.retrying(
                2, lambda taken, attempt: self._run_once(
                    data_dir, taken, work / f"etcd-{attempt}.log", want),
                "etcd could not bind loopback ports in {tries} tries")

    def _run_once(self, data_dir: Path, ports: list[int], log: Path,
                  want: durability.Expectation | None = None) -> Verdict | None:
        """The verdict, or None when etcd lost a race for its ports (try again)."""
        client, peer = ports
        started = time.monotonic()
        with Child(self.argv(data_dir, client, peer), log) as child:
            while True:
                exit = child.poll()
                if exit is not None:
                    if BIND_FAILED.search(log_text(log, 1 << 16)):
                        return None
                    return failure_verdict("unrecoverable", child, exit)
                if kv.healthy(client):
                    if want:
                        return self._read_back(child, client, want)
                    return Verdict("ok", duration=child.elapsed, evidence={"argv": child.argv})
                if time.monotonic() - started > self.limit():
                    child.kill(grace=0)  # a hung member gets no graceful exit
                    return failure_verdict("hang", child, None)
                time.sleep(POLL)

    def _read_back(self, child: Child, client: int, want: durability.Expectation) -> Verdict:
        """ok if every acknowledged key reads back its last acknowledged value."""
        evidence = {"argv": child.argv}
        try:
            missing = durability.lost(want, lambda key: kv.get(client, key, self.timeout))
        except kv.EtcdKVError as e:
            # Healthy, yet it cannot answer a read: it did not really recover.
            exit = child.poll()
            if exit is not None:
                return failure_verdict("unrecoverable", child, exit)
            child.kill()
            return failure_verdict("hang", child, None, evidence={"read_error": str(e)})
        if missing:
            return durability.data_loss(missing, child.elapsed, evidence)
        return Verdict("ok", duration=child.elapsed, evidence=evidence)
