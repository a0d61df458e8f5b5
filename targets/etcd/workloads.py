"""Workloads `etcd` and `etcd-writes`: one member bootstraps under the mount, then takes writes.

- `etcd` (`EtcdBootstrap`): one member bootstraps a fresh data dir on free
  loopback ports; healthy (`GET /health` polled in-process with short
  timeouts, while watching the exit status) means complete; then SIGTERM,
  and SIGKILL of the group after a grace.
- `etcd-writes` (`EtcdWrites`): the same bootstrap, then `puts` client
  requests over the v3 JSON API: distinct keys and values, every tenth an
  overwrite of an earlier key, and one delete. Before each request an
  intent marker (the write's fields and `"intent": true`) says the write is
  in flight; once etcd has answered, a marker (`key`, `value`, and for the
  delete `"deleted": true` with `value` None) says it was acknowledged. A
  marker is never early: until acknowledged, either outcome is allowed.

The header records the etcd version and the sha256 of its binary, so a
checker finds the same etcd by what it is, anywhere (`binary.for_trace`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from powercut import ports
from powercut.process import Child, last_lines
from powercut.recorder.workload import GRACE_SECONDS, POLL_SECONDS, Markers, Outcome, start
from powercut.targets.etcd import binary as binaries
from powercut.targets.etcd import client as kv
from powercut.targets.writes import plan_writes

DEFAULT_PUTS = 100
HEALTH_TIMEOUT = 0.5
EXIT_WAIT = 1.0  # after a failed request: time for the member to finish exiting, if it is


def clean_env() -> dict[str, str]:
    # ETCD_* variables in the caller's environment would silently change the member.
    return {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}


def wait_healthy(child: Child, client: int, log: Path, timeout: float, started: float,
                 what: str = "etcd") -> Outcome | None:
    """None once the member on `client` is healthy, else why it is not (exited, too slow)."""
    deadline = started + timeout
    while not kv.healthy(client, HEALTH_TIMEOUT):
        exit = child.poll()
        if exit is not None:
            return Outcome(False, f"{what} exited with status {exit.status} before it was "
                                  f"healthy: {last_lines(log)}", exited=True)
        if time.monotonic() > deadline:
            return Outcome(False, f"{what} not healthy within {timeout:g}s: {last_lines(log)}")
        time.sleep(POLL_SECONDS)
    return None


def send_writes(mnt: Path, client: int, n: int, deadline: float,
                exited: Callable[[], str | None] = lambda: None) -> Outcome | None:
    """`n` planned writes to the member on `client`, each between its intent and its
    acknowledgement marker; None when all were acknowledged, else why not."""
    with Markers(mnt) as markers:
        for i, w in enumerate(plan_writes(n)):
            if time.monotonic() > deadline:
                return Outcome(False, f"only {i} of {n} writes within the timeout")
            # The intent first: a crash before the answer may keep the write or not.
            markers.write(w.marker(intent=True))
            try:
                if w.value is None:
                    kv.delete(client, w.key)
                else:
                    kv.put(client, w.key, w.value)
            except kv.EtcdKVError as e:
                gone = exited()
                return Outcome(False, f"write {i} ({w.key}) failed: {gone or e}",
                               exited=gone is not None)
            markers.write(w.marker())  # acknowledged: only now may the marker be recorded
    return None


@dataclass(frozen=True)
class EtcdBootstrap:
    """One etcd member bootstrapping `data.etcd` under the mount, stopped once healthy."""

    etcd_bin: Path
    version: str
    name: str = "etcd"
    data_dir: str = "data.etcd"
    member_name: str = "default"

    @classmethod
    def with_binary(cls, etcd_bin: Path | str | None = None, **fields: Any) -> Self:
        """This workload with `--etcd-bin` (default: the etcd installed with powercut)."""
        found = binaries.for_recording(etcd_bin)
        return cls(found, binaries.version(found), **fields)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "etcd_bin": str(self.etcd_bin),
                "etcd_version": self.version, "etcd_sha256": binaries.sha256(self.etcd_bin),
                "data_dir": self.data_dir, "member_name": self.member_name}

    def argv(self, mnt: Path, client: int, peer: int) -> list[str]:
        curl, purl = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        return [str(self.etcd_bin), "--name", self.member_name,
                "--data-dir", str(mnt / self.data_dir),
                "--listen-client-urls", curl, "--advertise-client-urls", curl,
                "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                "--initial-cluster", f"{self.member_name}={purl}",
                "--initial-cluster-state", "new"]

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        return self._run(mnt, workdir, timeout, 0)

    def _run(self, mnt: Path, workdir: Path, timeout: float, puts: int) -> Outcome:
        log = workdir / "etcd.log"
        started = time.monotonic()
        deadline = started + timeout
        with ports.reserved(2) as (client, peer):
            child = start(self.argv(mnt, client, peer), log, env=clean_env())
            try:
                failed = wait_healthy(child, client, log, timeout, started)
                if failed is not None:
                    return failed
                if not puts:
                    return Outcome(True, "etcd bootstrapped and reported healthy")

                def exited() -> str | None:
                    exit = child.wait(EXIT_WAIT)  # a request failed: is it exiting?
                    return None if exit is None else (
                        f"etcd exited with status {exit.status}: {last_lines(log)}")

                failed = send_writes(mnt, client, puts, deadline, exited)
                return failed or Outcome(True, f"etcd bootstrapped and acknowledged {puts} "
                                               "writes")
            finally:
                child.kill(GRACE_SECONDS)


@dataclass(frozen=True)
class EtcdWrites(EtcdBootstrap):
    """etcd bootstraps `data.etcd` under the mount, then takes `puts` acknowledged writes."""

    puts: int = DEFAULT_PUTS
    name: str = "etcd-writes"

    def header(self) -> dict[str, Any]:
        return {**super().header(), "puts": self.puts}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        return self._run(mnt, workdir, timeout, self.puts)
