"""`powercut record` under faults: the workload, the recorder, the mountpoint and the disk.

In every case the workload's whole process group is stopped, the mount is
gone, the trace ends with a footer saying how it ended and keeps the ops
recorded so far (a full disk: no footer, the valid prefix readable with
--prefix), one line on stderr says why, and the exit status is not 0. A
recorder killed with SIGKILL takes its workload and mount with it (its
guardian); killed together with its guardian, it leaves a stale mount:
`powercut umount` or the next `powercut record` on the same mountpoint
removes it, killing only what belongs to the dead recorder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from powercut.recorder.mount import fuse_mounts
from powercut.trace import Trace, open_trace
from tests.faultlog import FaultLog
from tests.guardians import guardian_of
from tests.mounts import tmpfs

pytestmark = pytest.mark.fuse

# Records a few ops, says so (pid file outside the mount), then misbehaves.
WORKLOAD = '''
import os, signal, subprocess, sys, time
mnt, mode, pids = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(os.path.join(mnt, "a"), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"x" * 4096)
os.fsync(fd)
os.close(fd)
def note(pid):
    with open(pids, "a") as f:
        f.write(f"{pid}\\n")
note(os.getpid())
if mode == "crash":
    sys.exit(3)
if mode == "daemon":  # a helper in the workload's process group, left running
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    note(helper.pid)
    sys.exit(0)
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode == "fill":
    fd = os.open(os.path.join(mnt, "big"), os.O_WRONLY | os.O_CREAT, 0o644)
    for _ in range(64):
        os.write(fd, b"y" * 65536)
    sys.exit(0)
open(pids + ".ready", "w").close()
time.sleep(120)  # hang, ignore-term, signal
'''

# Every fault this module injects, by the test that injects it (checked by the last test).
FAULTS = FaultLog({
    "test_workload_faults": lambda p: p["mode"],
    "test_recorder_interrupted": lambda p: p["sig"].name,
    "test_file_size_limit_keeps_the_valid_prefix": "file size limit",
    "test_disk_full_keeps_the_valid_prefix": "disk full",
    "test_bad_mountpoint_is_one_line": lambda p: f"mountpoint {p['problem']}",
    "test_umount_removes_a_killed_recorders_mount": "SIGKILL recorder",
    "test_next_record_reuses_a_killed_recorders_mountpoint": "SIGKILL recorder",
    "test_umount_under_timeout_or_a_script_kills_neither": "SIGKILL recorder",
    "test_a_killed_recorders_workload_and_mount_go_with_it": "SIGKILL recorder, guardian alive",
})


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "wl.py").write_text(WORKLOAD)
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp")}


def record_args(tmp_path: Path, mode: str, *extra: str, trace: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "powercut", "record", "-o", str(trace or tmp_path / "t.trace"),
            *extra, "--", sys.executable, str(tmp_path / "wl.py"), "{mnt}", mode,
            str(tmp_path / "pids")]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def assert_cleaned_up(tmp_path: Path) -> None:
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert pids and not [p for p in pids if alive(p)], "a workload process was left running"
    assert not [m for _, m in fuse_mounts() if m.startswith(str(tmp_path))]
    assert list((tmp_path / "tmp").iterdir()) == [], "the recorder left its temp dir"


def ended(trace: Path, status: str) -> Trace:
    opened = open_trace(trace)
    assert opened.status == status
    assert [op.op for op in opened.ops()][:3] == ["create", "write", "fsync"]
    return opened


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(("mode", "timeout", "status", "says"), [
    ("crash", "30", "workload-failed", "exited with status 3"),
    ("hang", "1", "workload-failed", "still running after 1s"),
    ("ignore-term", "1", "workload-failed", "still running after 1s"),
    ("daemon", "30", "complete", None),
])
def test_workload_faults(tmp_path: Path, env: dict[str, str], mode: str, timeout: str,
                         status: str, says: str | None) -> None:
    done = subprocess.run(record_args(tmp_path, mode, "--timeout", timeout), env=env,
                          capture_output=True, text=True, timeout=120)
    ended(tmp_path / "t.trace", status)
    FAULTS.add(mode)  # the workload recorded its ops, then misbehaved
    if says is None:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == 1
        assert says in one_line(done.stderr)
    assert_cleaned_up(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_recorder_interrupted(tmp_path: Path, env: dict[str, str], sig: signal.Signals) -> None:
    proc = subprocess.Popen(record_args(tmp_path, "hang"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_for(tmp_path / "pids.ready")
    assert proc.poll() is None
    proc.send_signal(sig)
    FAULTS.add(sig.name)  # sent to a running recorder
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in one_line(stderr)
    ended(tmp_path / "t.trace", "interrupted")
    assert_cleaned_up(tmp_path)


def wait_for(path: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_file_size_limit_keeps_the_valid_prefix(tmp_path: Path, env: dict[str, str]) -> None:
    """`ulimit -f`: the trace (larger than any file it records) hits the limit first."""
    args = " ".join(f"'{a}'" for a in record_args(tmp_path, "fill"))
    done = subprocess.run(["bash", "-c", f"ulimit -f 512; exec {args}"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "file size limit" in line and "--prefix" in line
    FAULTS.add("file size limit")  # the recorder hit it
    prefix = open_trace(tmp_path / "t.trace", allow_prefix=True)
    assert prefix.status == "truncated" and prefix.op_count >= 4
    assert_cleaned_up(tmp_path)


def test_disk_full_keeps_the_valid_prefix(tmp_path: Path, env: dict[str, str]) -> None:
    with tmpfs(tmp_path / "small", "256k") as small:
        trace = small / "t.trace"
        done = subprocess.run(record_args(tmp_path, "fill", trace=trace), env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        line = one_line(done.stderr)
        assert "disk is full" in line and "--prefix" in line
        FAULTS.add("disk full")  # the recorder hit it
        prefix = open_trace(trace, allow_prefix=True)
        assert prefix.status == "truncated" and prefix.op_count >= 4
        assert [op.op for op in prefix.ops()][:3] == ["create", "write", "fsync"]
        shown = subprocess.run([sys.executable, "-m", "powercut", "show", str(trace)],
                               capture_output=True, text=True, env=env, timeout=60)
        assert shown.returncode == 2 and "--prefix" in one_line(shown.stderr)
    assert_cleaned_up(tmp_path)


@pytest.mark.parametrize("problem", ["missing", "not empty", "busy"])
def test_bad_mountpoint_is_one_line(tmp_path: Path, env: dict[str, str], problem: str) -> None:
    mnt = tmp_path / "mnt"
    with contextlib.ExitStack() as stack:
        if problem == "not empty":
            mnt.mkdir()
            (mnt / "file").write_text("x")
        if problem == "busy":
            stack.enter_context(tmpfs(mnt, "1m"))
        done = subprocess.run(record_args(tmp_path, "crash", "--mountpoint", str(mnt)), env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert {"missing": "does not exist", "not empty": "is not empty",
                "busy": "already a mount point"}[problem] in one_line(done.stderr)
        FAULTS.add(f"mountpoint {problem}")  # refused for that reason
        assert not (tmp_path / "t.trace").exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def ours(tmp_path: Path, mnt: str) -> bool:
    """A mount of this test's recorder (other programs on the machine mount too)."""
    return mnt.startswith(str(tmp_path) + "/")


def kill_recorder(tmp_path: Path, env: dict[str, str], *extra: str) -> str:
    """Start a recording, SIGKILL it and its guardian mid-run (kill -9 of everything, or an
    OOM kill of both); the stale mount they leave, its workload still running."""
    before = {m for _, m in fuse_mounts()}
    proc = subprocess.Popen(record_args(tmp_path, "hang", *extra), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(tmp_path / "pids.ready")
    assert proc.poll() is None
    os.kill(guardian_of(proc.pid), signal.SIGKILL)
    proc.kill()
    proc.wait()
    FAULTS.add("SIGKILL recorder")  # it was running, with its mount
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert all(alive(p) for p in pids), "nothing was left to clean up"
    (tmp_path / "pids.ready").unlink()
    stale = [m for _, m in fuse_mounts() if m not in before and ours(tmp_path, m)]
    assert len(stale) == 1
    return stale[0]


def test_a_killed_recorders_workload_and_mount_go_with_it(tmp_path: Path,
                                                           env: dict[str, str]) -> None:
    """SIGKILL of the recorder alone: its guardian ends the workload's session, removes the
    mount and the temp dir at once, with no `powercut umount` and no later run."""
    proc = subprocess.Popen(record_args(tmp_path, "hang"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(tmp_path / "pids.ready")
    proc.kill()
    proc.wait()
    FAULTS.add("SIGKILL recorder, guardian alive")
    deadline = time.monotonic() + 30
    while True:
        pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
        gone = not [p for p in pids if alive(p)] and not [
            m for _, m in fuse_mounts() if ours(tmp_path, m)] and not list(
            (tmp_path / "tmp").iterdir())
        if gone or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert_cleaned_up(tmp_path)
    assert open_trace(tmp_path / "t.trace", allow_prefix=True).op_count >= 3


def test_umount_under_timeout_or_a_script_kills_neither(tmp_path: Path,
                                                         env: dict[str, str]) -> None:
    """`timeout 60 powercut umount PATH` and a script naming PATH are callers, not holders:
    only what belongs to the dead recorder is killed."""
    stale = kill_recorder(tmp_path, env)
    script = tmp_path / "clean.sh"
    script.write_text(f'#!/bin/sh\ntimeout 60 {sys.executable} -m powercut umount "$1"\n'
                      'echo "script still here: $?"\n')
    done = subprocess.run(["sh", str(script), stale], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "removed the stale recorder mount" in done.stdout
    assert "script still here: 0" in done.stdout
    assert_cleaned_up(tmp_path)


def test_umount_removes_a_killed_recorders_mount(tmp_path: Path, env: dict[str, str]) -> None:
    stale = kill_recorder(tmp_path, env)
    assert stale.startswith(str(tmp_path / "tmp"))
    done = subprocess.run([sys.executable, "-m", "powercut", "umount", stale], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "removed the stale recorder mount" in done.stdout
    assert_cleaned_up(tmp_path)  # its workload ended too
    assert not [m for _, m in fuse_mounts() if m.startswith(str(tmp_path))]
    assert list((tmp_path / "tmp").iterdir()) == []  # its temp dir went with it
    # The trace it was writing keeps its ops, readable as a prefix.
    assert open_trace(tmp_path / "t.trace", allow_prefix=True).op_count >= 3
    again = subprocess.run([sys.executable, "-m", "powercut", "umount", stale], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "not a mount point" in one_line(again.stderr)


def test_next_record_reuses_a_killed_recorders_mountpoint(tmp_path: Path,
                                                          env: dict[str, str]) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    assert kill_recorder(tmp_path, env, "--mountpoint", str(mnt)) == str(mnt)
    for leftover in (tmp_path / "tmp").glob("powercut-record-*"):  # its backing dir (its
        subprocess.run(["rm", "-rf", str(leftover)], check=True)  # ledger stays: it says what
    # the dead recorder owned, so the next run can end its workload)
    killed = [int(p) for p in (tmp_path / "pids").read_text().split()]
    done = subprocess.run(record_args(tmp_path, "crash", "--mountpoint", str(mnt)), env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    ended(tmp_path / "t.trace", "workload-failed")
    assert not [p for p in killed if alive(p)], "the killed recorder's workload still runs"
    assert_cleaned_up(tmp_path)


def test_umount_refuses_what_is_not_a_stale_recorder_mount(tmp_path: Path,
                                                           env: dict[str, str]) -> None:
    with tmpfs(tmp_path / "other", "1m") as other:
        done = subprocess.run([sys.executable, "-m", "powercut", "umount", str(other)],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "not a powercut recorder's" in one_line(done.stderr)
        assert os.path.ismount(other)


def test_umount_refuses_a_live_recorders_mount(tmp_path: Path, env: dict[str, str]) -> None:
    before = {m for _, m in fuse_mounts()}
    proc = subprocess.Popen(record_args(tmp_path, "hang"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(tmp_path / "pids.ready")
        (live,) = [m for _, m in fuse_mounts() if m not in before and ours(tmp_path, m)]
        done = subprocess.run([sys.executable, "-m", "powercut", "umount", live], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "served by a running powercut record" in one_line(done.stderr)
        assert live in {m for _, m in fuse_mounts()}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 130
    assert_cleaned_up(tmp_path)


def test_every_fault_kind_was_injected(request: pytest.FixtureRequest) -> None:
    """Last in the module: each fault test selected really injected its fault."""
    FAULTS.assert_all_injected(request)
