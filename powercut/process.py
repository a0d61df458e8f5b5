"""Child processes for workloads and checkers: own process group, output to a file, always killed.

A workload or a checker runs a real program on a mount or a crash state.
That program may panic with a dump of every thread, hang, or fork helpers,
so a child here always starts in its own session (its own process group,
out of reach of the terminal's Ctrl-C), writes stdout and stderr to a log
file (never a pipe nobody reads: a full pipe blocks the writer forever),
and is killed as a whole group, reaped, and waited for until the group is
gone when its `Child` is left, whatever happened. This module must never
leave a process running: every live child is also registered so that
`kill_all()` can end them from another thread when an exploration is
interrupted. `kill_naming` ends the orphans of a process that was killed
outright (a recorder's workload, an exploration's checkers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GRACE = 0.3  # seconds between SIGTERM and SIGKILL when ending a group
TAIL_BYTES = 8192

_live: set[Child] = set()
_live_lock = threading.Lock()


@dataclass(frozen=True)
class Exit:
    """How a child ended: its exit status, or the signal that ended it."""

    status: int | None
    signal: int | None

    @classmethod
    def from_returncode(cls, code: int) -> Exit:
        return cls(None, -code) if code < 0 else cls(code, None)

    @property
    def describe(self) -> str:
        if self.signal is not None:
            return f"killed by {signal.Signals(self.signal).name}"
        return f"exit status {self.status}"


class Child:
    """One program started in its own process group with its output going to `log`.

    Use as a context manager: leaving it kills the whole group (SIGTERM,
    a short grace, SIGKILL) and reaps the leader.
    """

    def __init__(self, argv: Sequence[str], log: Path, *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, append: bool = False,
                 user: int | None = None, group: int | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        # Imported here: guard builds on this module.
        from powercut import guard
        guard.prepare()  # the ledger exists before the program runs (see `hold` below)
        self.started = time.monotonic()
        with open(log, "ab" if append else "wb") as out:
            # The child holds its own descriptor; ours can close at once.
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=cwd, env=dict(env) if env is not None else None, start_new_session=True,
                user=user, group=group, extra_groups=[] if user is not None else None)
        self.pid = self._proc.pid
        # The thread that started it: an interrupted exploration kills only
        # the children of its own worker threads. Registered before anything else can
        # take time (the guardian's first start does): `kill_all` must see it at once.
        self.owner = threading.current_thread().name
        with _live_lock:
            _live.add(self)
        # Written down for the guardian: if this process is SIGKILLed, the child's whole
        # session still goes (see `guard`).
        guard.hold(session=self.pid)

    def poll(self) -> Exit | None:
        code = self._proc.poll()
        return None if code is None else Exit.from_returncode(code)

    def wait(self, timeout: float) -> Exit | None:
        """The child's exit, or None if it is still running after `timeout` seconds."""
        try:
            return Exit.from_returncode(self._proc.wait(timeout))
        except subprocess.TimeoutExpired:
            return None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def kill(self, grace: float = GRACE) -> None:
        """End the whole group (SIGTERM, `grace` seconds, SIGKILL), reap the leader and wait
        until every member is gone; safe to call more than once."""
        try:
            if self._proc.poll() is None:
                _signal_group(self.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(grace)
            # Helpers the leader forked may outlive it in the group: end them too,
            # and wait until the kernel has them gone (SIGKILL is asynchronous).
            _signal_group(self.pid, signal.SIGKILL)
            self._proc.wait()
            _wait_group_gone(self.pid)
        finally:
            with _live_lock:
                _live.discard(self)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _signal_group(pgid: int, sig: int) -> None:
    # The group id is the leader's pid (start_new_session); once every member
    # is gone the group no longer exists and the kernel says so.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """Living (not zombie) processes of process group `pgid`, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _wait_group_gone(pgid: int, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while group_members(pgid) and time.monotonic() < deadline:
        _signal_group(pgid, signal.SIGKILL)
        time.sleep(0.01)


def kill_all(owner_prefix: str = "") -> None:
    """Kill every child still running that a thread named `owner_prefix`... started.

    Called from any thread, when an exploration is interrupted.
    """
    with _live_lock:
        children = [c for c in _live if c.owner.startswith(owner_prefix)]
    for child in children:
        _signal_group(child.pid, signal.SIGKILL)


def live_children() -> int:
    with _live_lock:
        return len(_live)


def running() -> frozenset[Child]:
    """The children powercut started in this process that are still running."""
    with _live_lock:
        return frozenset(_live)


def kill(children: frozenset[Child]) -> None:
    """End these children, each with its whole group (and reap them)."""
    for child in children:
        child.kill(grace=0)


def log_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a log file as text (from a line start when possible)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return ""
    if size > limit and b"\n" in data:
        data = data[data.index(b"\n") + 1:]
    return data.decode("utf-8", "replace")


def log_text(path: Path, limit: int = 4 << 20) -> str:
    """The beginning of a log (up to `limit` bytes), where a cause line is found."""
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def processes_naming(path: Path | str) -> list[tuple[int, int, int]]:
    """(pid, pgid, sid) of every living process whose command line names `path` or under it."""
    needle = os.fsencode(os.path.abspath(path))
    found = []
    spared = ancestors()  # never this process, nor the shell or `timeout` that started it
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spared:
            continue
        pid = int(entry)
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if not any(w == needle or w.startswith(needle + b"/") or needle + b"/" in w
                       for w in words):
                continue
            found.append((pid, os.getpgid(pid), os.getsid(pid)))
        except (OSError, ProcessLookupError):
            continue
    return found


def ancestors(pid: int | None = None) -> set[int]:
    """`pid` (default: this process) and every process above it, up to init."""
    found: set[int] = set()
    current = os.getpid() if pid is None else pid
    while current > 0 and current not in found:
        found.add(current)
        try:
            with open(f"/proc/{current}/stat") as f:
                stat = f.read()
            current = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def _under(link: str, root: str) -> bool:
    link = link.removesuffix(" (deleted)")
    return link == root or link.startswith(root + "/")


def holders(path: Path | str) -> list[int]:
    """Living processes whose cwd, root, an open file or a mapped file is `path` or under it.

    Read from /proc links only (never through the path itself: a dead FUSE
    mount would answer ENOTCONN, a hung one would block). Never this process
    or one of its ancestors: a shell or `timeout` that started powercut is
    not what holds a mount.
    """
    root = os.path.abspath(path)
    spared = ancestors()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spared:
            continue
        base = f"/proc/{entry}"
        try:
            links = [os.readlink(f"{base}/cwd"), os.readlink(f"{base}/root")]
            links += [os.readlink(f"{base}/fd/{fd}") for fd in os.listdir(f"{base}/fd")]
            with open(f"{base}/maps", "rb") as f:
                links += [os.fsdecode(line.split(None, 5)[5].rstrip(b"\n"))
                          for line in f if line.count(b" ") >= 5 and b"/" in line]
        except (OSError, IndexError):
            continue  # gone, or a kernel thread
        if any(_under(link, root) for link in links):
            found.append(int(entry))
    return found


def kill_holders(path: Path | str, wait: float = 5.0) -> int:
    """SIGKILL every process holding `path` (see `holders`); how many there were."""
    found = holders(path)
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while found and holders(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(found)


def kill_naming(path: Path | str, wait: float = 5.0) -> int:
    """SIGKILL every process naming `path` (a session leader with its group); how many."""
    ours = os.getpgid(0)
    found = processes_naming(path)
    for pid, pgid, sid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if pgid == sid and pgid != ours:
                os.killpg(pgid, signal.SIGKILL)  # a workload or checker leads its session
            else:
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while found and processes_naming(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(found)


def last_lines(path: Path, lines: int = 5) -> str:
    """The last `lines` non-empty lines of a log, joined with " | " (for one-line messages)."""
    kept = [x.strip() for x in log_tail(path).splitlines() if x.strip()][-lines:]
    return " | ".join(kept)
