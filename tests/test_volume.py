"""Scratch volumes: seen only by the thread that made them, and gone even after a SIGKILL.

A `ScratchVolume` is a real XFS file system on a real loop device (these
tests need root and mkfs.xfs, as powercut does to make one). Its mount
lives in the making thread's own mount namespace: no other thread of the
process, and no other process, sees it. `close()` from any thread unmounts
it and the loop device detaches; a process killed outright takes the
namespace with it, and the kernel unmounts and detaches by itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from powercut.volume import ScratchVolume, attached
from tests.realparts import REPO


def _mounted_here(path: Path) -> bool:
    with open("/proc/thread-self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def _in_thread(body: Callable[[], object]) -> object:
    out: list[object] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            out.append(body())
        except BaseException as e:
            failed.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return out[0]


def test_only_its_thread_sees_it_and_close_leaves_nothing(tmp_path: Path) -> None:
    def make_and_use() -> tuple[ScratchVolume, bool]:
        volume = ScratchVolume(tmp_path / "v")
        (volume.path / "x").write_bytes(b"in the volume")
        seen = _mounted_here(volume.path) and (volume.path / "x").exists()
        volume.close()
        return volume, seen and not _mounted_here(volume.path)

    volume, ok = _in_thread(make_and_use)  # type: ignore[misc]
    assert ok
    assert not attached(volume.image)
    assert not (tmp_path / "v").exists()
    assert not _mounted_here(tmp_path / "v" / "mnt")


def test_closed_from_another_thread_while_its_own_lives(tmp_path: Path) -> None:
    made: list[ScratchVolume] = []
    release = threading.Event()

    def owner() -> None:
        made.append(ScratchVolume(tmp_path / "v"))
        release.wait(60)

    worker = threading.Thread(target=owner)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not made and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert made, "the volume was not made"
        volume = made[0]
        assert attached(volume.image)
        assert not _mounted_here(volume.path)  # this thread never saw it
        volume.close()
        assert not attached(volume.image)
        assert not (tmp_path / "v").exists()
    finally:
        release.set()
        worker.join()


KILLED = """
import sys, threading, time
from pathlib import Path
from powercut.volume import ScratchVolume
made = []
t = threading.Thread(target=lambda: made.append(ScratchVolume(Path(sys.argv[1]))))
t.start(); t.join()
print(made[0].image, flush=True)
time.sleep(600)
"""


def test_a_process_killed_outright_leaves_no_mount_and_no_loop_device(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path / "v")],
                             stdout=subprocess.PIPE, text=True, cwd=REPO,
                             start_new_session=True)
    try:
        assert child.stdout is not None
        image = child.stdout.readline().strip()
        assert image and attached(image), "the child made no volume"
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while attached(image) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not attached(image)
