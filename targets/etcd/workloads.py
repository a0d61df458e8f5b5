"""Workloads `etcd` and `etcd-writes`: one member bootstraps under the mount, then takes writes.

- `etcd` (`EtcdBootstrap`): one member bootstraps a fresh data dir on free
  loopback ports; healthy (`GET /health` polled in-process with short
  timeouts, while watching the exit status) means complete; then SIGTERM,
  and SIGKILL of the group after a grace.
- `etcd-writes` (`EtcdWrites`): the same bootstrap, then `writes` client
  requests over the v3 JSON API, the plan every key-value target sends,
  through the kit's acknowledged-write loop (an intent marker before each
  request, an acknowledgement once etcd answered).

The header records the etcd version and the sha256 of its binary, so a
checker finds the same etcd by what it is, anywhere (`binary.ETCD`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from powercut import ports
from powercut.process import Child, last_lines
from powercut.recorder.workload import GRACE_SECONDS, Markers, WorkloadResult, start
from powercut.targets.etcd import client as kv
from powercut.targets.etcd.binary import ETCD, clean_env
from powercut.targets.kit import Server, Write, plan_writes, polling, send_acknowledged

DEFAULT_WRITES = 100
HEALTH_TIMEOUT = 0.5


def member(child: Child, client: int) -> Server[int]:
    """A started member, healthy once `GET /health` says so; stopped with a grace."""
    healthy = polling(lambda limit: client if kv.healthy(client, min(limit, HEALTH_TIMEOUT))
                      else None)
    return Server(child, healthy, stop=lambda c: c.kill(GRACE_SECONDS))


def send_writes(mnt: Path, client: int, n: int, deadline: float,
                exited: Callable[[], str | None] = lambda: None) -> str | None:
    """`n` planned writes to the member on `client` through the acknowledged-write loop;
    None when all were acknowledged, else why not."""
    def request(w: Write) -> None:
        if w.value is None:
            kv.delete(client, w.key)
        else:
            kv.put(client, w.key, w.value)

    with Markers(mnt) as markers:
        return send_acknowledged(markers.write, plan_writes(n), request, deadline=deadline,
                                 errors=(kv.EtcdKVError,), why=exited)


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
        found = ETCD.for_recording(etcd_bin)
        return cls(found, ETCD.version(found), **fields)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "etcd_bin": str(self.etcd_bin), **ETCD.header(self.etcd_bin),
                "data_dir": self.data_dir, "member_name": self.member_name}

    def argv(self, mnt: Path, client: int, peer: int) -> list[str]:
        curl, purl = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        return [str(self.etcd_bin), "--name", self.member_name,
                "--data-dir", str(mnt / self.data_dir),
                "--listen-client-urls", curl, "--advertise-client-urls", curl,
                "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                "--initial-cluster", f"{self.member_name}={purl}",
                "--initial-cluster-state", "new"]

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        return self._run(mnt, workdir, timeout, 0)

    def _run(self, mnt: Path, workdir: Path, timeout: float, writes: int) -> WorkloadResult:
        log = workdir / "etcd.log"
        deadline = time.monotonic() + timeout
        with ports.reserved(2) as (client, peer):
            child = start(self.argv(mnt, client, peer), log, env=clean_env())
            with member(child, client) as etcd:
                if etcd.wait(deadline) is None:
                    return WorkloadResult(False, unhealthy(etcd, "etcd", timeout, log),
                                          exited=etcd.exit is not None)
                if not writes:
                    return WorkloadResult(True, "etcd bootstrapped and reported healthy")

                gone = False

                def exited() -> str | None:
                    nonlocal gone
                    gone = etcd.exited()  # a request failed: is it exiting?
                    exit = etcd.exit
                    return None if exit is None else (
                        f"etcd exited with status {exit.status}: {last_lines(log)}")

                failed = send_writes(mnt, client, writes, deadline, exited)
        if failed is not None:
            return WorkloadResult(False, failed, exited=gone)
        return WorkloadResult(True, f"etcd bootstrapped and acknowledged {writes} writes")


def unhealthy(etcd: Server[int], what: str, timeout: float, log: Path) -> str:
    """Why a member did not become healthy: it exited, or it was too slow."""
    exit = etcd.exit
    if exit is not None:
        return f"{what} exited with status {exit.status} before it was healthy: " \
               f"{last_lines(log)}"
    return f"{what} not healthy within {timeout:g}s: {last_lines(log)}"


@dataclass(frozen=True)
class EtcdWrites(EtcdBootstrap):
    """etcd bootstraps `data.etcd` under the mount, then takes `writes` acknowledged writes."""

    writes: int = DEFAULT_WRITES
    name: str = "etcd-writes"

    def header(self) -> dict[str, Any]:
        return {**super().header(), "writes": self.writes}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        return self._run(mnt, workdir, timeout, self.writes)
