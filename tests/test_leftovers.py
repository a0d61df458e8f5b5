"""Work dirs of explorations killed outright are reaped; those of live ones never are.

An owner is alive while it holds the flock on its work dir's lock file,
whatever PID namespace it runs in: pids and start times mean nothing
across namespaces that share a $TMPDIR (a container's pid 1 is not the
host's). Owners here are real processes, each in its own process group,
killed in `finally`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from powercut.explorer.run import leftovers
from powercut.process import processes_naming

OWNER = '''
import subprocess, sys, tempfile, time
from pathlib import Path
from powercut.explorer.run import leftovers

parent = Path(sys.argv[1])
root = Path(tempfile.mkdtemp(prefix=leftovers.PREFIX, dir=parent))
leftovers.claim(root)
# A checker's program, in its own session as powercut starts them, naming the state.
subprocess.Popen(["sh", "-c", "sleep 600", str(root / "state")], start_new_session=True)
(parent / "ready.tmp").write_text(str(root))
(parent / "ready.tmp").rename(parent / "ready")
time.sleep(600)
'''


@contextlib.contextmanager
def owner(parent: Path, *wrapper: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A live exploration owning a work dir under `parent` (started through `wrapper`)."""
    child = subprocess.Popen([*wrapper, sys.executable, "-c", OWNER, str(parent)],
                             start_new_session=True, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (parent / "ready").exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the owner never claimed its work dir"
            time.sleep(0.01)
        yield child, Path((parent / "ready").read_text())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        if child.stderr:
            child.stderr.close()
        for root in parent.glob(f"{leftovers.PREFIX}*"):
            for pid, _, _ in processes_naming(root):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(root, ignore_errors=True)


def kill(child: subprocess.Popen[bytes]) -> None:
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def test_a_live_owner_is_left_alone_and_a_killed_one_reaped(tmp_path: Path) -> None:
    with owner(tmp_path) as (child, root):
        assert processes_naming(root), "the owner's checker is not running"
        assert leftovers.reap(tmp_path) == []
        assert root.is_dir() and processes_naming(root)
        kill(child)  # kill -9: nothing of it runs its cleanup
        assert root.is_dir() and processes_naming(root)  # its checker runs on
        assert leftovers.reap(tmp_path) == [root]
        assert not root.exists()
        assert processes_naming(root) == []


def _can_unshare() -> bool:
    done = subprocess.run(["unshare", "-Urpf", "--mount-proc", "true"], capture_output=True)
    return done.returncode == 0


def test_an_owner_in_another_pid_namespace_is_alive_while_it_holds_the_lock(
        tmp_path: Path) -> None:
    """Its pid (1 in its namespace) names another process here: only the lock can tell."""
    assert _can_unshare(), "unshare -Urpf --mount-proc must work (user namespaces)"
    with owner(tmp_path, "unshare", "-Urpf", "--mount-proc") as (child, root):
        assert leftovers.reap(tmp_path) == []
        assert root.is_dir()
        kill(child)  # the namespace's pid 1 dies: the kernel kills the rest of it
        # `child` is unshare; the namespace's pid 1 is its child, which the
        # kernel tears down after unshare is reaped: its lock goes with it.
        deadline = time.monotonic() + 30
        while (reaped := leftovers.reap(tmp_path)) == [] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reaped == [root]
        assert not root.exists()


def test_this_process_keeps_its_own_claims_until_released(tmp_path: Path) -> None:
    roots = [tmp_path / f"{leftovers.PREFIX}{n}" for n in range(3)]
    for root in roots:
        root.mkdir()
        leftovers.claim(root)
    try:
        assert leftovers.reap(tmp_path) == []  # another descriptor of ours: still refused
        leftovers.release(roots[0])
        assert leftovers.reap(tmp_path) == [roots[0]]
        # A claimed dir its owner removed without release: the next claim closes its lock.
        shutil.rmtree(roots[1])
        fresh = tmp_path / f"{leftovers.PREFIX}fresh"
        fresh.mkdir()
        leftovers.claim(fresh)
        assert leftovers.claimed() == {roots[2], fresh}
        assert leftovers.reap(tmp_path) == []
    finally:
        for root in [*roots, tmp_path / f"{leftovers.PREFIX}fresh"]:
            leftovers.release(root)
    assert leftovers.claimed() == set()


def test_a_dir_without_a_lock_is_not_judged(tmp_path: Path) -> None:
    """Made by mkdtemp and not claimed yet (or by another program): never reaped."""
    young = tmp_path / f"{leftovers.PREFIX}young"
    young.mkdir()
    assert leftovers.reap(tmp_path) == []
    assert young.is_dir()


@pytest.mark.parametrize("junk", ["file", "unreadable"])
def test_a_lock_that_cannot_be_taken_is_not_judged(tmp_path: Path, junk: str) -> None:
    root = tmp_path / f"{leftovers.PREFIX}odd"
    root.mkdir()
    if junk == "file":
        (tmp_path / f"{leftovers.PREFIX}file").write_text("not a dir")
    else:
        (root / leftovers.LOCK).mkdir()  # cannot be opened for writing
    assert leftovers.reap(tmp_path) == []
    assert root.is_dir()
