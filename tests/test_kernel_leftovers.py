"""No loop device or kernel mount outlives a run: not a failed workload, not a SIGKILLed
`powercut record --fs`, not a SIGKILLed `powercut explore` of a kernel trace.

A trial whose checker owned its loop devices left 974 of them and 858
mounts behind. Here powercut owns every one: taken off in `finally`, and
by the guardian (`powercut.guard`) when powercut itself is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from powercut.kernelfs import loop
from powercut.kernelfs.mounting import mount_points
from powercut.trace import open_trace

pytestmark = [pytest.mark.fuse, pytest.mark.kernelfs]

WORKLOAD = '''
import os, sys, time
root, mode, ready = sys.argv[1], sys.argv[2], sys.argv[3]
with open(os.path.join(root, "f"), "w") as f:
    f.write("data")
    f.flush()
    os.fsync(f.fileno())
os.chdir(root)  # holds the kernel mount while it lives
open(ready, "w").close()
if mode == "fail":
    sys.exit(3)
time.sleep(300)
'''


def ours(tmp_path: Path) -> tuple[list[str], list[str]]:
    """Loop devices whose image lies under `tmp_path`, and kernel mounts under it."""
    root = str(tmp_path)
    loops = [n for n, image in loop.bound().items() if image.startswith(root)]
    mounts = [m for m in mount_points() if m.startswith(root + "/")]
    return loops, mounts


def wait_until_clean(tmp_path: Path, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while any(ours(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ours(tmp_path) == ([], []), "a loop device or a mount outlived the run"


def record(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    (tmp_path / "wl.py").write_text(WORKLOAD)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "powercut", "record", "--fs", "ext4", "--fs-size", "32M",
         "--timeout", "300", "-o", str(tmp_path / "t.trace"), "--", sys.executable,
         str(tmp_path / "wl.py"), "{mnt}", mode, str(tmp_path / "ready")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_a_failed_workload_on_ext4_leaves_nothing(tmp_path: Path) -> None:
    proc = record(tmp_path, "fail")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert open_trace(tmp_path / "t.trace").status == "workload-failed"
    assert ours(tmp_path) == ([], [])
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_killed_recorder_on_ext4_leaves_no_loop_device_or_mount(tmp_path: Path) -> None:
    proc = record(tmp_path, "hang")
    wait_for(tmp_path / "ready", proc)
    loops, mounts = ours(tmp_path)
    assert loops and mounts, "the workload should be running on its kernel mount"
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    wait_until_clean(tmp_path)
    deadline = time.monotonic() + 30
    while list((tmp_path / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert open_trace(tmp_path / "t.trace", allow_prefix=True).op_count > 0


def test_a_killed_exploration_of_an_ext4_trace_leaves_nothing(tmp_path: Path) -> None:
    proc = record(tmp_path, "fail")
    proc.communicate(timeout=300)
    stuck = tmp_path / "stuck.py"
    stuck.write_text("import os, pathlib, sys, time\n"
                     "os.chdir(sys.argv[1])\n"  # holds the crash image's mount
                     "pathlib.Path(sys.argv[2]).touch()\n"
                     "time.sleep(300)\n")
    explore = subprocess.Popen(
        [sys.executable, "-m", "powercut", "explore", str(tmp_path / "t.trace"), "--no-cache",
         "--timeout", "300", "--workers", "2", "--check-cmd",
         f"{sys.executable} {stuck} {{dir}} {tmp_path / 'checking'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    wait_for(tmp_path / "checking", explore)
    assert any(ours(tmp_path)), "the check should be running on a mounted crash image"
    explore.send_signal(signal.SIGKILL)
    explore.communicate()
    wait_until_clean(tmp_path)
