"""File and directory I/O through the recorder: directory syncs and writes that stop short.

Directory syncs: a directory opened with open(2) (with or without
O_DIRECTORY) reaches FUSE as OPENDIR, and fsync/fdatasync on it as
FSYNCDIR; each is one `fsyncdir` record naming the directory's path at that
moment, `""` for the mount root, with `datasync`. Such a trace replays and
enumerates under every persistence model.

Writes that stop short: what reached the backing file is what is recorded,
and the program sees the short count; an error before any byte is written
is returned and nothing is recorded. Checked on the handler alone with a
failing `os.pwrite`, and through the mount on a backing directory that is a
tiny tmpfs.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyfuse3
import pytest
import trio

from powercut.recorder.fs import RecorderFS
from powercut.recorder.inodes import ROOT_INODE
from powercut.recorder.mount import is_mounted, mounted
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models import MODELS, get_model
from powercut.replayer.tree import final_tree
from powercut.trace import Op, TraceWriter, open_trace
from tests.mounts import tmpfs

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
    for model in MODELS:
        states = list(Enumeration(trace, get_model(model)))
        assert {s.point for s in states} == set(range(-1, trace.op_count)), model
    # alice keeps a name only once its directory is synced: `d` once the root is.
    root_sync = next(op.seq for op in trace.ops() if op.op == "fsyncdir")
    has_d = {(s.point, any(e.path == "d" for e in s.image.entries))
             for s in Enumeration(trace, get_model("alice"))}
    assert (root_sync - 1, False) in has_d
    assert {has for point, has in has_d if point >= root_sync} == {True}


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


# --------------------------------------------------------------------------- short writes


def run(handler: Callable[..., Any], *args: Any) -> Any:
    return trio.run(handler, *args)


@pytest.fixture()
def bare_fs(tmp_path: Path) -> Iterator[tuple[RecorderFS, int, Path]]:
    """A RecorderFS with no mount and one file open for writing: (fs, fh, backing file)."""
    backing = tmp_path / "backing"
    backing.mkdir()
    real = backing / "f"
    real.write_bytes(b"")
    writer = TraceWriter(tmp_path / "t.trace", argv=["test"], workload={"name": "test"})
    fs = RecorderFS(backing, writer)
    node = fs.table.remember(ROOT_INODE, "f", real.stat().st_ino, False)
    fh = fs._open_handle(node.ino, os.open(real, os.O_WRONLY), os.O_WRONLY, pid=42)
    try:
        yield fs, fh, real
    finally:
        run(fs.release, fh)
        writer.close()


def failing_pwrite(monkeypatch: pytest.MonkeyPatch, first: int | None) -> None:
    """os.pwrite that writes only `first` bytes, then fails ENOSPC (at once if None)."""
    real = os.pwrite
    calls = []

    def pwrite(fd: int, data: Any, offset: int) -> int:
        calls.append(offset)
        if first is None or len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, bytes(data[:first]), offset)

    monkeypatch.setattr(os, "pwrite", pwrite)


def test_a_write_that_stops_short_records_what_reached_the_file(
        bare_fs: tuple[RecorderFS, int, Path], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    fs, fh, real = bare_fs
    failing_pwrite(monkeypatch, first=3000)
    assert run(fs.write, fh, 100, b"a" * 10_000) == 3000  # the kernel gets the short count
    monkeypatch.undo()
    fs.writer.close()
    (op,) = ops(tmp_path)
    assert (op.op, op.path, op.offset, op.data, op.pid) == ("write", "f", 100, b"a" * 3000, 42)
    assert real.read_bytes() == bytes(100) + b"a" * 3000
    assert fs.bytes_written == 3000


def test_a_write_that_fails_at_once_is_the_error_and_not_recorded(
        bare_fs: tuple[RecorderFS, int, Path], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    fs, fh, real = bare_fs
    failing_pwrite(monkeypatch, first=None)
    with pytest.raises(pyfuse3.FUSEError) as failed:
        run(fs.write, fh, 0, b"a" * 10_000)
    assert failed.value.errno == errno.ENOSPC
    monkeypatch.undo()
    fs.writer.close()
    assert ops(tmp_path) == [] and real.read_bytes() == b"" and fs.bytes_written == 0


def test_a_full_backing_disk_gives_a_short_write_and_a_true_trace(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "64k") as small, recording(tmp_path, small) as (mnt, _):
        fd = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, b"z" * 100_000)  # one request, larger than the disk
            assert 0 < written < 100_000
            with pytest.raises(OSError) as full:
                os.write(fd, b"z" * 100)  # nothing more fits: the error, nothing recorded
            assert full.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        on_disk = (small / "f").read_bytes()
    assert on_disk == b"z" * written
    writes = [(op.offset, op.data) for op in ops(tmp_path) if op.op == "write"]
    assert writes == [(0, b"z" * written)]
    assert final_tree(open_trace(tmp_path / "t.trace"))["f"][2] == on_disk
