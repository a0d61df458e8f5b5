"""File and directory I/O through the recorder: directory syncs.

A directory opened with open(2) (with or without
O_DIRECTORY) reaches FUSE as OPENDIR, and fsync/fdatasync on it as
FSYNCDIR; each is one `fsyncdir` record naming the directory's path at that
moment, `""` for the mount root, with `datasync`. Such a trace replays and
enumerates.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from powercut.recorder.fs import RecorderFS
from powercut.recorder.mount import is_mounted, mounted
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models import get_model
from powercut.replayer.tree import final_tree
from powercut.trace import Op, TraceWriter, open_trace

pytestmark = pytest.mark.fuse


@contextlib.contextmanager
def recording(tmp_path: Path, backing: Path | None = None) -> Iterator[tuple[Path, RecorderFS]]:
    """A recorder mount over `backing` (a fresh dir if None); the trace is closed after."""
    if backing is None:
        backing = tmp_path / "backing"
        backing.mkdir()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    writer = TraceWriter(tmp_path / "t.trace", argv=["test"], workload={"name": "test"})
    fs = RecorderFS(backing, writer)
    try:
        with mounted(fs, mnt):
            yield mnt, fs
    finally:
        writer.close()
    assert not is_mounted(mnt)
    assert fs.errors == [] and fs.trace_failure is None


def ops(tmp_path: Path) -> list[Op]:
    return list(open_trace(tmp_path / "t.trace").ops())


def sync_dir(path: Path, datasync: bool, flags: int = os.O_RDONLY | os.O_DIRECTORY) -> None:
    fd = os.open(path, flags)
    try:
        (os.fdatasync if datasync else os.fsync)(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- directory syncs


def test_every_directory_sync_is_recorded_the_root_as_the_empty_path(tmp_path: Path) -> None:
    with recording(tmp_path) as (mnt, _):
        os.mkdir(mnt / "d")
        (mnt / "d" / "f").write_bytes(b"x" * 5000)
        for datasync in (False, True):
            for flags in (os.O_RDONLY | os.O_DIRECTORY, os.O_RDONLY):
                sync_dir(mnt, datasync, flags)
                sync_dir(mnt / "d", datasync, flags)
    syncs = [(op.path, op.datasync, op.pid) for op in ops(tmp_path) if op.op == "fsyncdir"]
    me = os.getpid()
    assert syncs == [("", False, me), ("d", False, me)] * 2 + [("", True, me), ("d", True, me)] * 2
    trace = open_trace(tmp_path / "t.trace")
    assert final_tree(trace)["d/f"][2] == b"x" * 5000
    states = list(Enumeration(trace, get_model()))
    assert {s.point for s in states} == set(range(-1, trace.op_count))


def test_a_directory_held_open_is_synced_under_its_path_of_the_moment(tmp_path: Path) -> None:
    with recording(tmp_path) as (mnt, _):
        os.mkdir(mnt / "wal.tmp")
        fd = os.open(mnt / "wal.tmp", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
            os.rename(mnt / "wal.tmp", mnt / "wal")
            os.fdatasync(fd)
            os.rmdir(mnt / "wal")
            os.fsync(fd)  # as on disk: a removed directory syncs, and nothing is kept
        finally:
            os.close(fd)
    assert [(op.op, op.path, op.datasync) for op in ops(tmp_path) if op.op != "mkdir"] == [
        ("fsyncdir", "wal.tmp", False), ("rename", None, None),
        ("fsyncdir", "wal", True), ("rmdir", "wal", None)]
