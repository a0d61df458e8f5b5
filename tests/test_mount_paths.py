"""Mount paths with bytes /proc/mounts escapes or leaves raw: spaces, backslashes, non-ASCII.

The kernel writes space, tab, newline and backslash in /proc/mounts as
`\\ooo` and every other byte raw (UTF-8 names as their bytes): a recorder
whose mountpoint, backing dir and TMPDIR live under `crash-é-測試` must
still see its own mount, unmount it, and, once killed with SIGKILL, have
its stale mount found and removed by `powercut umount` or the next
`powercut record` on that mountpoint, deleting nothing in `--keep-backing`.
Every process here starts in its own process group and is killed in
`finally`; every mount is removed in `finally`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from powercut.process import processes_naming
from powercut.recorder.mount import (
    FSNAME,
    MountEntry,
    is_mounted,
    lazy_unmount,
    mount_at,
    mount_table,
)
from powercut.trace import open_trace
from tests.guardians import guardian_of
from tests.realparts import REPO

ODD = "crash-é-測試"


def test_mount_table_undoes_escapes_and_decodes_raw_bytes() -> None:
    text = (b"powercut /tmp/a\\040b/" + ODD.encode() + b"/m\\134n\\011t\\012 fuse.powercut "
            b"rw,nosuid 0 0\n"
            b"/dev/sda1 / ext4 rw 0 0\n"
            b"tmpfs /tmp/raw-\xff tmpfs rw 0 0\n")
    assert mount_table(text) == [
        MountEntry("powercut", f"/tmp/a b/{ODD}/m\\n\tt\n", "fuse.powercut"),
        MountEntry("/dev/sda1", "/", "ext4"),
        MountEntry("tmpfs", os.fsdecode(b"/tmp/raw-\xff"), "tmpfs"),
    ]
    # Decoded as the OS decodes paths: the name compares equal to the real one.
    assert os.fsencode(mount_table(text)[2].target) == b"/tmp/raw-\xff"
    assert ODD.encode() in os.fsencode(mount_table(text)[0].target)


@pytest.fixture
def odd(tmp_path: Path) -> Iterator[Path]:
    """A directory named with non-ASCII and a space; its recorders' mounts removed after."""
    base = tmp_path / ODD / "a b"
    (base / "tmp").mkdir(parents=True)
    try:
        yield base
    finally:
        for mnt in base.glob("mnt*"):
            for pid, _, _ in processes_naming(mnt):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if is_mounted(mnt):
                lazy_unmount(mnt)


def record(base: Path, mnt: str, backing: str, script: str) -> subprocess.Popen[str]:
    """`powercut record` under `base` (its TMPDIR there too), in its own process group."""
    with contextlib.suppress(FileExistsError):  # (a stale mount cannot even be stat'ed)
        os.mkdir(base / mnt)
    return subprocess.Popen(
        [sys.executable, "-m", "powercut", "record", "-o", str(base / f"{mnt}.trace"),
         "--mountpoint", str(base / mnt), "--keep-backing", str(base / backing), "--",
         "sh", "-c", script, "sh", "{mnt}", str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "TMPDIR": str(base / "tmp")}, start_new_session=True)


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def stop(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


# Writes a file through the mount, says so outside it, waits for the test's go.
WRITE_AND_WAIT = 'echo hi > "$1/f" && touch "$2/ready" && ' \
                 'while [ ! -e "$2/go" ]; do sleep 0.02; done'


@pytest.mark.fuse
def test_a_recording_under_a_non_ascii_dir_sees_and_removes_its_mount(odd: Path) -> None:
    proc = record(odd, "mnt", "backing", WRITE_AND_WAIT)
    try:
        wait_for(odd / "ready", proc)
        mnt = odd / "mnt"
        assert is_mounted(mnt)
        entry = mount_at(mnt)
        assert entry is not None and entry.source == FSNAME and entry.target == str(mnt)
        assert (mnt / "f").read_text() == "hi\n"
        (odd / "go").touch()
        _, err = proc.communicate(timeout=120)
    finally:
        stop(proc)
    assert proc.returncode == 0, err
    assert not is_mounted(odd / "mnt")
    trace = open_trace(odd / "mnt.trace")
    assert trace.status == "complete"
    assert [(op.op, op.path) for op in trace.ops()] == [("create", "f"), ("write", "f")]
    assert (odd / "backing" / "f").read_text() == "hi\n"  # the backing dir is kept
    assert list((odd / "tmp").iterdir()) == []


@pytest.mark.fuse
@pytest.mark.parametrize("remover", ["umount", "record again"])
def test_a_killed_recorders_stale_mount_under_a_non_ascii_dir_is_removed(odd: Path,
                                                                         remover: str) -> None:
    mnt = odd / "mnt"
    proc = record(odd, "mnt", "backing", WRITE_AND_WAIT)
    try:
        wait_for(odd / "ready", proc)
        os.kill(guardian_of(proc.pid), signal.SIGKILL)  # its guardian, then the recorder:
        os.kill(proc.pid, signal.SIGKILL)  # its workload runs on, its mount stays
        proc.communicate()
        with pytest.raises(OSError) as stale:
            os.stat(mnt)
        assert stale.value.errno == errno.ENOTCONN
        assert is_mounted(mnt)
        assert processes_naming(mnt), "the workload outlives its killed recorder"
        if remover == "umount":
            done = subprocess.run([sys.executable, "-m", "powercut", "umount", str(mnt)],
                                  capture_output=True, text=True, timeout=60, cwd=REPO)
            assert done.returncode == 0, done.stderr
            assert "removed the stale recorder mount" in done.stdout
        else:
            # The same mountpoint and backing dir again: the stale mount goes, the backing
            # files come back as the new trace's initial tree.
            again = record(odd, "mnt", "backing", 'cat "$1/f" > "$2/seen"')
            try:
                _, err = again.communicate(timeout=120)
            finally:
                stop(again)
            assert again.returncode == 0, err
            assert (odd / "seen").read_text() == "hi\n"
            assert [e.path for e in open_trace(odd / "mnt.trace").initial] == ["f"]
    finally:
        stop(proc)
    assert not is_mounted(mnt)
    assert processes_naming(mnt) == []  # its workload was ended
    assert (odd / "backing" / "f").read_text() == "hi\n"  # nothing in --keep-backing deleted
