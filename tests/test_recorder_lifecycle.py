"""The recorder's lifecycle: bad mountpoints, stale mounts, failing and interrupted workloads.

Whatever happens, nothing may be left behind: no mount, no workload process,
no temp directory (the session guard in conftest checks the last two as well).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from powercut.errors import MountError, WorkloadError
from powercut.recorder.fs import RecorderFS
from powercut.recorder.mount import (
    check_mountpoint,
    fuse_mounts,
    is_mounted,
    lazy_unmount,
    mounted,
    stale_mounts,
)
from powercut.recorder.record import record
from powercut.recorder.workload import Command
from powercut.trace import TraceWriter, open_trace
from tests.realparts import REPO

POWERCUT = [sys.executable, "-m", "powercut"]


def sleeps_for(token: str) -> list[int]:
    """Living `sleep TOKEN` processes."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.split(b"\0")[:2] == [b"sleep", token.encode()]:
                found.append(int(entry))
    return found


def test_bad_mountpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MountError, match="does not exist"):
        check_mountpoint(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(MountError, match="not a directory"):
        check_mountpoint(tmp_path / "file")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(MountError, match="not empty"):
        check_mountpoint(tmp_path / "full")


@pytest.mark.fuse
def test_mount_is_removed_and_a_mounted_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "m").mkdir()
    writer = TraceWriter(tmp_path / "t.trace", argv=[], workload={"name": "test"})
    with pytest.raises(RuntimeError, match="workload crashed"), \
            mounted(RecorderFS(tmp_path / "b", writer), tmp_path / "m") as mnt:
        assert is_mounted(mnt)
        with pytest.raises(MountError, match="already a mount point"):
            check_mountpoint(mnt)
        (mnt / "f").write_bytes(b"data")
        raise RuntimeError("workload crashed")
    writer.close("interrupted")
    assert not is_mounted(tmp_path / "m")
    assert [op.op for op in open_trace(tmp_path / "t.trace").ops()] == ["create", "write"]


@pytest.mark.fuse
def test_stale_mount_of_a_killed_recorder_is_detected(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    mnt = tmp_path / "m"
    mnt.mkdir()
    child = subprocess.Popen([sys.executable, "-c", f"""
import time
from powercut.recorder.fs import RecorderFS
from powercut.recorder.mount import mounted
from powercut.trace import TraceWriter
w = TraceWriter({str(tmp_path / 't.trace')!r}, argv=[], workload={{"name": "test"}})
with mounted(RecorderFS({str(tmp_path / 'b')!r}, w), {str(mnt)!r}):
    print("ready", flush=True)
    time.sleep(600)
"""], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        child.kill()
        child.wait()
        assert str(mnt) in stale_mounts()
        with pytest.raises(MountError, match=r"stale FUSE mount.*fusermount3 -u -z"):
            check_mountpoint(mnt)
    finally:
        child.kill()
        child.wait()
        lazy_unmount(mnt)
    assert not is_mounted(mnt)


def test_command_must_name_the_mount() -> None:
    with pytest.raises(WorkloadError, match=r"\{mnt\}"):
        Command(("true",))


@pytest.mark.fuse
def test_failing_command_gives_workload_failed(tmp_path: Path) -> None:
    work = Command(("sh", "-c", "echo hello > {mnt}/f; exit 3"))
    result = record(tmp_path / "t.trace", work, timeout=30)
    assert result.status == "workload-failed" and "status 3" in result.detail
    trace = open_trace(tmp_path / "t.trace")
    assert trace.status == "workload-failed"
    assert trace.workload == {"name": "command", "argv": list(work.argv)}
    assert [(op.op, op.path) for op in trace.ops()] == [("create", "f"), ("write", "f")]


@dataclass(frozen=True)
class PreparedCommand(Command):
    """A command whose file `seed` is made in the backing directory before the mount."""

    def prepare(self, backing: Path) -> None:
        (backing / "seed").write_text("made before recording\n")


@pytest.mark.fuse
def test_prepare_runs_before_the_mount_and_is_the_initial_tree(tmp_path: Path) -> None:
    work = PreparedCommand(("sh", "-c", "cat {mnt}/seed > /dev/null && echo more >> {mnt}/seed"))
    result = record(tmp_path / "t.trace", work, timeout=30)
    assert result.status == "complete", result.detail
    trace = open_trace(tmp_path / "t.trace")
    assert [(e.path, e.data) for e in trace.initial] == [("seed", b"made before recording\n")]
    assert [(op.op, op.path) for op in trace.ops()] == [("write", "seed")]


@pytest.mark.fuse
def test_failing_command_exits_1_on_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "t.trace"
    run = subprocess.run([*POWERCUT, "record", "-o", str(out), "--", "sh", "-c",
                          "mkdir {mnt}/d && exit 7"], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert run.returncode == 1, run.stderr
    assert "workload-failed" in run.stdout and "status 7" in run.stderr
    assert open_trace(out).status == "workload-failed"


@pytest.mark.fuse
def test_sigint_keeps_the_ops_recorded_so_far(tmp_path: Path) -> None:
    out = tmp_path / "t.trace"
    token = "4242.5"  # a sleep nobody else runs, to find leftovers by
    proc = subprocess.Popen(
        [*POWERCUT, "record", "-o", str(out), "--", "sh", "-c",
         f"echo hi > {{mnt}}/a && mkdir {{mnt}}/d && exec sleep {token}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not sleeps_for(token):
            time.sleep(0.05)
        assert sleeps_for(token), "the workload never started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    trace = open_trace(out)
    assert trace.status == "interrupted"
    assert [(op.op, op.path) for op in trace.ops()] == [
        ("create", "a"), ("write", "a"), ("mkdir", "d")]
    assert sleeps_for(token) == []
    assert not [m for src, m in fuse_mounts() if m.startswith(str(tmp_path))]


@pytest.mark.fuse
def test_command_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "t.trace"
    run = subprocess.run([*POWERCUT, "record", "-o", str(out), "--", "/nonexistent/prog", "{mnt}"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 2 and "cannot start /nonexistent/prog" in run.stderr
    assert "Traceback" not in run.stderr
    assert open_trace(out).status == "workload-failed"
