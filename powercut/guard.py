"""Undo what this powercut process set up, even when it is killed outright.

A workload's session, a FUSE mount, a kernel file system mounted from a
loop device, a temporary directory: each is released in a `finally`, but
SIGKILL runs no `finally`. So each resource is first written to this
process's ledger (`hold`), a JSON line in `$TMPDIR/powercut-guard-*/`, and
a guardian process (started with the first entry, in a session of its own,
out of reach of a Ctrl-C or a group kill) waits on a pipe whose only writer
is this process. When the pipe closes without a goodbye, this process is
gone however it went, and the guardian undoes the ledger: kills the
sessions it names and whatever holds its mounts, unmounts the kernel file
systems, detaches their loop devices, unmounts the FUSE mounts and removes
the directories. A guardian killed too (SIGKILL to everything) leaves a
ledger whose lock nobody holds; the next powercut run undoes it (`reap`).

Every step checks before it acts: a session is killed only if its leader
still has the start time written down (pids are reused), a mount only if it
is still there, a loop device only if it is still bound to the image named.
It must never kill an ancestor of the process that runs it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from powercut.kernelfs import loop
from powercut.kernelfs.mounting import is_mounted, unmount
from powercut.process import ancestors, kill_holders

PREFIX = "powercut-guard-"
# Every live ledger is also named here (a symlink), so a later run finds a dead one whatever
# its TMPDIR: `powercut umount` run from another shell than the recorder's, say. On tmpfs:
# gone at the next boot, with whatever it named.
REGISTRY = Path("/run/powercut")
LEDGER = "ledger.jsonl"
LOCK = "owner.lock"
GOODBYE = b"done\n"

_lock = threading.Lock()
_mine: _Ledger | None = None


class _Ledger:
    """This process's ledger and its guardian."""

    def __init__(self) -> None:
        reap()  # ledgers of powercut runs whose guardian was killed too
        # Locked before it takes a name a reaper looks for: an unlocked ledger is a dead one.
        making = Path(tempfile.mkdtemp(prefix="." + PREFIX))
        self._lock_fd = os.open(making / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self.root = making.with_name(making.name[1:])
        making.rename(self.root)
        self._fd = os.open(self.root / LEDGER, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                           | os.O_CLOEXEC, 0o600)
        self.guardian = subprocess.Popen(
            [sys.executable, "-m", "powercut.guard"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        assert self.guardian.stdin is not None
        self.guardian.stdin.write(os.fsencode(self.root) + b"\n")
        self.guardian.stdin.flush()
        with contextlib.suppress(OSError):  # no registry (not root): TMPDIR alone finds it
            REGISTRY.mkdir(mode=0o700, exist_ok=True)
            os.symlink(self.root, REGISTRY / self.root.name)
        atexit.register(release_all)

    def write(self, entry: dict[str, Any]) -> None:
        os.write(self._fd, (json.dumps(entry) + "\n").encode())

    def close(self) -> None:
        """Orderly end: everything was released in its `finally`; the guardian goes."""
        assert self.guardian.stdin is not None
        with contextlib.suppress(OSError):
            self.guardian.stdin.write(GOODBYE)
            self.guardian.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.guardian.wait(5)
        os.close(self._fd)
        _forget(self.root)
        os.close(self._lock_fd)


def _ledger() -> _Ledger:
    global _mine
    with _lock:
        if _mine is None or _mine.guardian.poll() is not None:
            _mine = _Ledger()
        return _mine


problem: str | None = None  # why this process has no ledger (then only `reap` cleans up)


def prepare() -> None:
    """Make this process's ledger and its guardian now, before a program is started: the
    `hold` that follows the start is then one write, so a SIGKILL between the two finds the
    shortest window (making the ledger first reaps and starts a guardian, which takes long
    enough on a loaded machine for a killed powercut to leave its program behind)."""
    global problem
    try:
        _ledger()
    except OSError as e:
        problem = f"no cleanup ledger in {tempfile.gettempdir()}: {e.strerror}"


def hold(**entry: Any) -> None:
    """Write one resource to this process's ledger before it is set up.

    `session=PID` (the leader of a program's session), `mount=PATH` (a
    kernel file system), `image=PATH` (loop devices bound to it),
    `fuse=PATH` (a recorder mount), `remove=PATH` (a temporary directory).
    A ledger that cannot be made (no space in $TMPDIR) never stops the work:
    the resource is still released in its `finally`, and `problem` says why.
    """
    global problem
    if "session" in entry:
        entry["start"] = _start_time(entry["session"])
    try:
        _ledger().write(entry)
    except OSError as e:
        problem = f"no cleanup ledger in {tempfile.gettempdir()}: {e.strerror}"


def release_all() -> None:
    """This process ends in order: dismiss the guardian (called at exit by the CLI)."""
    global _mine
    with _lock:
        if _mine is not None:
            _mine.close()
            _mine = None


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _kill_sessions(entries: list[dict[str, Any]]) -> None:
    """SIGKILL every process of the sessions whose leaders are still the ones written down
    (a leader gone may have its pid reused: such a session is left alone)."""
    sids = {e["session"] for e in entries if isinstance(e.get("session"), int)
            and e.get("start") is not None and _start_time(e["session"]) == e.get("start")}
    if not sids:
        return
    spared = ancestors()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in spared:
            with contextlib.suppress(OSError):
                if os.getsid(int(entry)) in sids:
                    os.kill(int(entry), signal.SIGKILL)


def read_ledger(root: Path) -> list[dict[str, Any]]:
    entries = []
    with contextlib.suppress(OSError), open(root / LEDGER, "rb") as f:
        for line in f:
            with contextlib.suppress(ValueError):  # a line torn by the kill
                entry = json.loads(line)
                if isinstance(entry, dict):
                    entries.append(entry)
    return entries


def undo(root: Path) -> list[str]:
    """Undo the ledger in `root`, last resource first; what was done, a line each."""
    entries = read_ledger(root)
    done = []
    _kill_sessions(entries)
    for e in reversed(entries):
        path = e.get("mount") or e.get("fuse")
        if isinstance(path, str) and is_mounted(path):
            kill_holders(path)
            if "mount" in e:
                with contextlib.suppress(Exception):
                    unmount(path)
            else:
                subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True,
                               stdin=subprocess.DEVNULL, timeout=30, check=False)
            done.append(f"unmounted {path}")
        image = e.get("image")
        if isinstance(image, str):
            done += [f"detached /dev/{name}" for name in loop.detach_under(image)]
    for e in entries:
        path = e.get("remove")
        if isinstance(path, str) and os.path.isdir(path) and not any(
                is_mounted(os.path.join(d, name)) for d, names, _ in os.walk(path)
                for name in names):
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path}")
    return done


def _forget(root: Path) -> None:
    """Remove a ledger and its name in the registry."""
    shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(OSError):
        (REGISTRY / root.name).unlink()


def _ledgers(parent: Path | None) -> list[Path]:
    found: dict[str, Path] = {}
    with contextlib.suppress(OSError):
        for link in REGISTRY.iterdir():
            target = Path(os.readlink(link)) if link.is_symlink() else None
            if target is None or not target.is_dir():
                with contextlib.suppress(OSError):
                    link.unlink()  # its ledger was removed without it
                continue
            found[os.fspath(target)] = target
    if parent is not None:
        with contextlib.suppress(OSError):
            for root in parent.iterdir():
                found.setdefault(os.fspath(root), root)
    return [r for r in found.values() if r.name.startswith(PREFIX) and r.is_dir()]


def reap(parent: Path | None = None) -> list[Path]:
    """Undo the ledgers whose owner and guardian are gone: those the registry names and those
    under `parent` (default: $TMPDIR)."""
    parent = Path(parent or tempfile.gettempdir())
    undone = []
    with contextlib.suppress(OSError):
        for root in _ledgers(parent):
            try:
                fd = os.open(root / LOCK, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # its owner (or its guardian, undoing it) holds it
            try:
                undo(root)
                _forget(root)
                undone.append(root)
            finally:
                os.close(fd)
    return undone


def _guard() -> None:
    """The guardian: wait for the owner's pipe to close, then undo unless it said goodbye."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    root = Path(os.fsdecode(sys.stdin.buffer.readline().rstrip(b"\n")))
    said = b""
    while chunk := sys.stdin.buffer.read(64):
        said += chunk
    if said.startswith(GOODBYE) or not root.name.startswith(PREFIX):
        return
    # The owner's lock died with it: take it, so no reaper undoes the ledger beside us.
    with contextlib.suppress(OSError):
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
    time.sleep(0.05)  # let the kernel finish tearing the owner down (its open files)
    undo(root)
    _forget(root)


if __name__ == "__main__":
    _guard()
