"""The `etcd-cluster` checker: restart all three members of a crash state together.

The state holds `node1/ node2/ node3/` (header `members`), crashed at the
same instant. Each member restarts with `--initial-cluster-state existing`
(or `new` if the crash came before it had a WAL: not yet bootstrapped, so
it is bootstrapped again as at first) on fresh client ports and on the
peer port it was recorded with: a member
dials the others at the peer URLs stored in its data, whatever its flags
say (fresh peer ports leave the cluster without a leader). Those ports are
fixed, so each check runs in a network namespace of its own (`own_network`:
the pool gives it a loopback of its own), and checks run side by side.
Where the kernel refuses namespaces, cluster checks of one trace run one at
a time instead (a file lock per port set, which also holds across
processes; a check waits for it at most ten timeouts, then stops the
exploration with a CheckerError), and `describe` says so.

Per member: `ok` (healthy), `unrecoverable` (exited), `hang` (neither within
the timeout), in the evidence's notes; the members that did not recover are
its declared field `members`. The cluster is `unrecoverable` when
any member cannot restart (a member that never comes back needs an operator,
even if the other two keep quorum), `data-loss` when a healthy quorum reads
back an acknowledged key wrong, `hang` when a member or the quorum never
becomes healthy, else `ok`. The signature names the broken members, e.g.
`node2: cannot open database ...`. Every member is a kit `Server`: its
group is always killed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from powercut import namespaces, ports
from powercut.errors import CheckerError
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import DEFAULT_TIMEOUT, Checker, file_fingerprint, scratch_dir
from powercut.explorer.verdict import Evidence, LostWrite, Verdict
from powercut.process import Child
from powercut.targets.etcd import client as kv
from powercut.targets.etcd import logs
from powercut.targets.etcd.binary import ETCD, clean_env
from powercut.targets.etcd.checker import FAST_ELECTION
from powercut.targets.etcd.cluster import initial_cluster, member_argv
from powercut.targets.kit import Server, polling
from powercut.trace import Op

LOCK_DIR = "/tmp"
LOCK_WAIT = 10  # a check waits for the port lock this many timeouts, then gives up
LOCK_POLL = 0.05
_RANK = {"unrecoverable": 3, "data-loss": 2, "hang": 1, "ok": 0}


def members_of(workload: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(name, data dir, peer port) of each member the trace header names."""
    members = workload.get("members")
    if not isinstance(members, list) or not members:
        raise CheckerError("the trace names no cluster members; record it with "
                           "--workload etcd-cluster")
    out = []
    for m in members:
        try:
            out.append((str(m["name"]), str(m["data_dir"]), int(m["peer_port"])))
        except (KeyError, TypeError, ValueError):
            raise CheckerError(f"a cluster member in the trace header is malformed: {m!r}"
                               ) from None
    return out


@contextmanager
def _ports_lock(peers: Sequence[int], *, wait: float) -> Iterator[None]:
    """Hold the machine-wide lock of this peer port set; CheckerError after `wait` seconds."""
    # In /tmp itself, not $TMPDIR: every process on the machine must find the same file.
    name = "powercut-etcd-cluster-" + "-".join(str(p) for p in sorted(peers)) + ".lock"
    path = os.path.join(LOCK_DIR, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if time.monotonic() >= deadline:
                raise CheckerError(
                    f"the peer ports {', '.join(str(p) for p in sorted(peers))} of this "
                    f"cluster trace are locked by {_holders(path)} ({path}); waited {wait:g} s. "
                    "Another exploration of a cluster with these ports is running or stuck: "
                    "wait for it or stop it, then explore again")
            time.sleep(LOCK_POLL)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holders(path: str) -> str:
    """Who holds the flock on `path`, from /proc/locks (for the message only)."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as f:
            pids = sorted({fields[4] for line in f
                           if len(fields := line.split()) > 5 and "FLOCK" in fields[1:2]
                           and fields[5].rsplit(":", 1)[-1] == str(inode)})
    except (OSError, IndexError):
        pids = []
    return f"process {', '.join(pids)}" if pids else "another process"


class EtcdClusterChecker(Checker):
    """Restarts every member of a cluster crash state; verdicts per member and for the cluster."""

    name = "etcd-cluster"
    uses_markers = True
    own_network = True
    evidence_fields = ("members",)  # the members that did not recover

    def __init__(self, binary: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.binary = Path(binary)
        self.version = ETCD.version(self.binary)
        self.members = members_of(workload)
        self.timeout = timeout

    def describe(self) -> str:
        refused = namespaces.refused("net")
        alone = f"; one check at a time: network namespaces refused ({refused})" \
            if refused else ""
        return f"{self._what()}{alone}"

    def _what(self) -> str:
        return f"etcd-cluster ({self.binary} {self.version}, {len(self.members)} members)"

    def identity(self) -> str:
        members = ",".join(f"{name}:{data_dir}:{peer}" for name, data_dir, peer in self.members)
        return (f"{self._what()} binary={file_fingerprint(self.binary)} "
                f"members={members} timeout={self.timeout:g}")

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        peers = {name: port for name, _, port in self.members}
        alone = contextlib.nullcontext() if namespaces.in_own_network() else \
            _ports_lock(list(peers.values()), wait=LOCK_WAIT * self.timeout)
        with scratch_dir(scratch) as work, alone:
            want = durability.expected(markers)
            fixed = ", ".join(str(p) for p in peers.values())
            return ports.retrying(
                len(peers), lambda taken, attempt: self._run(
                    directory, work / f"try-{attempt}", peers,
                    dict(zip(peers, taken, strict=True)), want),
                f"etcd members could not bind their ports ({fixed} and fresh client ports) "
                "in {tries} tries; is another program on them?", backoff=0.5)

    def _run(self, directory: Path, work: Path, peers: dict[str, int], clients: dict[str, int],
             want: durability.Expectation) -> Verdict | None:
        """The verdict, or None when a member could not bind a port (try again)."""
        work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with ExitStack() as stack:
            servers: dict[str, Server[int]] = {}
            for name, data_dir, _ in self.members:
                # A member the crash caught before its WAL existed never joined:
                # it is bootstrapped again as at first (`new`), as an operator would.
                wal = directory / data_dir / "member" / "wal"
                joined = wal.is_dir() and any(wal.glob("*.wal"))
                argv = member_argv(str(self.binary), name, directory / data_dir, clients[name],
                                   peers[name], initial_cluster(peers),
                                   "existing" if joined else "new")
                child = Child([*argv, *FAST_ELECTION], work / f"{name}.log", env=clean_env())
                port = clients[name]
                healthy = polling(lambda limit, port=port: port if kv.healthy(
                    port, min(limit, kv.HEALTH_TIMEOUT)) else None)
                servers[name] = stack.enter_context(Server(child, healthy))
            verdicts: dict[str, str] = {}
            limit = self.limit()
            while len(verdicts) < len(servers) and time.monotonic() - started < limit:
                for name, server in servers.items():
                    if name in verdicts:
                        continue
                    if server.wait(time.monotonic() + kv.HEALTH_TIMEOUT) is not None:
                        verdicts[name] = "ok"
                    elif server.exit is not None:
                        if server.lost_port():
                            return None
                        verdicts[name] = "unrecoverable"
            for name in servers:
                verdicts.setdefault(name, "hang")
            healthy = [n for n, v in verdicts.items() if v == "ok"]
            missing: list[LostWrite] = []
            if want and len(healthy) * 2 > len(servers):
                try:
                    missing = durability.lost(
                        want, lambda key: kv.get(clients[healthy[0]], key, self.timeout))
                except kv.EtcdKVError as e:
                    # Healthy, yet it cannot answer a read: it did not really recover
                    # (as the single-member checker judges it), and no key is known lost.
                    return Verdict("hang", signature="healthy but cannot answer a read",
                                   duration=time.monotonic() - started,
                                   evidence=Evidence(read_error=str(e), notes={
                                       "members": dict(sorted(verdicts.items())),
                                       "quorum": True}))
            return self._verdict(servers, verdicts, missing, time.monotonic() - started)

    def _verdict(self, servers: dict[str, Server[int]], verdicts: dict[str, str],
                 missing: list[LostWrite], elapsed: float) -> Verdict:
        failed = tuple(sorted(n for n, v in verdicts.items() if v != "ok"))
        notes: dict[str, Any] = {"members": dict(sorted(verdicts.items())),
                                 "quorum": (len(verdicts) - len(failed)) * 2 > len(verdicts)}
        evidence = Evidence(fields={"members": failed}, notes=notes)
        per_member = {name: servers[name].failed(verdicts[name], logs.cause) for name in failed}
        if not per_member and not missing:
            return Verdict("ok", duration=elapsed, evidence=evidence)
        worst = max(per_member.values(), key=lambda v: _RANK[v.verdict], default=None)
        if missing and (worst is None or worst.verdict != "unrecoverable"):
            return durability.data_loss(missing, elapsed, evidence)
        assert worst is not None
        # Only the members that cannot restart name the failure; a member left
        # without quorum by them only waits, which says nothing new.
        named = {n: v for n, v in per_member.items() if v.verdict == worst.verdict}
        signature = "; ".join(f"{n}: {v.signature}" for n, v in sorted(named.items()))
        first = named[min(named)]
        notes["member_signatures"] = {n: v.signature for n, v in sorted(per_member.items())}
        return Verdict(worst.verdict, signature=signature, exit_status=first.exit_status,
                       signal=first.signal, log_tail=first.log_tail,
                       excerpt=f"{min(named)}: {first.excerpt}", duration=elapsed,
                       evidence=evidence)
