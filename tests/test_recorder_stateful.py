"""The recorder against a plain model: random operations through a real mount.

A hypothesis state machine runs creates, writes (at random offsets, some
past 1 MiB so the kernel splits them), truncates, renames of files and of
directories holding open files, unlinks of open files, links, symlinks,
mkdir/rmdir, chmod, fsync and fdatasync of files and of directory
descriptors (the mount root's too, held open across renames and rmdirs),
through the recorder's mount and against a tiny in-test model. After every
step the mount must read back what the model says, and each directory sync
must be recorded at once as one `fsyncdir` naming the directory's path at
that moment ("" for the mount root) with its `datasync`; at the end of each
example, the trace replayed with every write persisted (`final_tree`) must
be exactly the model's tree.

One mount serves the whole run; each example works in a fresh directory.
The mount fixture is function-scoped around the single test that runs the
machine (so one mount per run): a module-scoped one would outlive the
session guard that fails any test leaving a mount behind.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from powercut.recorder.fs import RecorderFS
from powercut.recorder.mount import is_mounted, mounted
from powercut.recorder.syscalls import RENAME_EXCHANGE, RENAME_NOREPLACE, renameat2
from powercut.replayer.tree import final_tree
from powercut.trace import TraceWriter, open_trace

NAMES = st.sampled_from(["a", "b", "c", "d"])
INDEX = st.integers(0, 1 << 16)
MODES = st.sampled_from([0o600, 0o640, 0o644, 0o700, 0o755])
# Small writes, some past 128 KiB, and a few past the 1 MiB a FUSE request
# carries here (libfuse 3 asks for the kernel's max_pages), which the kernel splits.
LENGTHS = st.one_of(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000),
                    st.integers(128 * 1024 - 10, 300_000), st.integers(128 * 1024 - 10, 300_000),
                    st.integers((1 << 20) - 10, (1 << 20) + 9000))
OFFSETS = st.one_of(st.integers(0, 9000), st.integers(0, 400_000))
SIZES = st.integers(0, 300_000)
MAX_HANDLES = 6
MAX_DIR_HANDLES = 3
MOUNT_ROOT = "/"  # a directory descriptor on the mount root, outside every example


def pattern(seed: int, length: int) -> bytes:
    block = hashlib.sha256(seed.to_bytes(4, "little")).digest()
    return (block * (length // len(block) + 1))[:length]


@dataclass(eq=False)
class MFile:
    mode: int
    data: bytearray = field(default_factory=bytearray)

    def write(self, offset: int, buf: bytes) -> None:
        if not buf:
            return  # write(2) of nothing changes nothing, not even the size
        if offset > len(self.data):
            self.data.extend(bytes(offset - len(self.data)))
        self.data[offset:offset + len(buf)] = buf

    def truncate(self, size: int) -> None:
        if size < len(self.data):
            del self.data[size:]
        else:
            self.data.extend(bytes(size - len(self.data)))


class LastRecord(TraceWriter):
    """A TraceWriter that keeps the last record it appended, for checks mid-run."""

    last: tuple[str, dict[str, object]] | None = None

    def append(self, op: str, pid: int, **fields: object) -> int:
        self.last = (op, fields)
        return super().append(op, pid, **fields)


@dataclass
class Recording:
    mnt: Path
    trace: Path
    fs: RecorderFS
    writer: LastRecord
    examples: Iterator[int]


@pytest.fixture()
def recording(tmp_path: Path) -> Iterator[Recording]:
    backing, mnt = tmp_path / "backing", tmp_path / "mnt"
    backing.mkdir()
    mnt.mkdir()
    trace = tmp_path / "stateful.trace"
    writer = LastRecord(trace, argv=["test"], workload={"name": "test"})
    fs = RecorderFS(backing, writer)
    try:
        with mounted(fs, mnt):
            rec = Recording(mnt, trace, fs, writer, itertools.count())
            yield rec
    finally:
        writer.close()
    assert not is_mounted(mnt)
    assert fs.errors == [] and fs.trace_failure is None
    assert open_trace(trace).status == "complete"



class RecorderMachine(RuleBasedStateMachine):
    """Drives the mount and the model side by side. Model paths are relative to `root`."""

    rec: Recording

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"ex{next(self.rec.examples)}"
        self.root = self.rec.mnt / self.prefix
        os.mkdir(self.root)
        self.umask = os.umask(0)
        os.umask(self.umask)
        self.dirs: dict[str, int] = {"": 0o755}  # path -> mode ("" is the example root)
        self.files: dict[str, MFile] = {}
        self.links: dict[str, str] = {}  # symlinks: path -> target
        self.handles: dict[int, tuple[MFile, bool]] = {}  # fd -> (file, O_APPEND)
        # Directory descriptors: fd -> model path, MOUNT_ROOT, or None once removed.
        self.dir_fds: dict[int, str | None] = {}
        self.seeds = itertools.count(1)

    # ------------------------------------------------------------------ helpers

    def exists(self, path: str) -> bool:
        return path in self.dirs or path in self.files or path in self.links

    def pick(self, items: list[str], i: int) -> str | None:
        return sorted(items)[i % len(items)] if items else None

    def join(self, parent: str, name: str) -> str:
        return f"{parent}/{name}" if parent else name

    def real(self, path: str) -> str:
        return str(self.root / path) if path else str(self.root)

    def handle(self, i: int) -> int | None:
        return sorted(self.handles)[i % len(self.handles)] if self.handles else None

    def mode(self, requested: int) -> int:
        return requested & ~self.umask & 0o7777

    # ------------------------------------------------------------------ rules

    @initialize(length=LENGTHS)
    def open_file_in_a_dir(self, length: int) -> None:
        # Start where the interesting cases are: a directory holding an open file.
        self.mkdir(0, "d", 0o755)
        self.create(0, "f", 0o644, False)  # sorted dirs: "" then "d" -> parent 0 is the root
        fd = next(iter(self.handles))
        os.close(fd)
        del self.handles[fd]
        os.rename(self.real("f"), self.real("d/f"))
        self.files["d/f"] = self.files.pop("f")
        self.open_file(0, False, False)
        self.write(0, 0, length)

    @rule(parent=INDEX, name=NAMES, mode=MODES)
    def mkdir(self, parent: int, name: str, mode: int) -> None:
        path = self.join(self.pick(list(self.dirs), parent) or "", name)
        if self.exists(path):
            return
        os.mkdir(self.real(path), mode)
        self.dirs[path] = self.mode(mode)

    @rule(parent=INDEX, name=NAMES, mode=MODES, append=st.booleans())
    def create(self, parent: int, name: str, mode: int, append: bool) -> None:
        path = self.join(self.pick(list(self.dirs), parent) or "", name)
        if self.exists(path) or len(self.handles) >= MAX_HANDLES:
            return
        flags = os.O_CREAT | os.O_EXCL | os.O_RDWR | (os.O_APPEND if append else 0)
        fd = os.open(self.real(path), flags, mode)
        self.files[path] = f = MFile(self.mode(mode))
        self.handles[fd] = (f, append)

    @precondition(lambda self: bool(self.files) and len(self.handles) < MAX_HANDLES)
    @rule(which=INDEX, append=st.booleans(), trunc=st.booleans())
    def open_file(self, which: int, append: bool, trunc: bool) -> None:
        path = self.pick(list(self.files), which)
        if path is None or len(self.handles) >= MAX_HANDLES:
            return
        flags = os.O_RDWR | (os.O_APPEND if append else 0) | (os.O_TRUNC if trunc else 0)
        fd = os.open(self.real(path), flags)
        if trunc:
            self.files[path].truncate(0)
        self.handles[fd] = (self.files[path], append)

    @precondition(lambda self: bool(self.handles))
    @rule(which=INDEX, offset=OFFSETS, length=LENGTHS)
    def write(self, which: int, offset: int, length: int) -> None:
        fd = self.handle(which)
        if fd is None:
            return
        f, append = self.handles[fd]
        data = pattern(next(self.seeds), length)
        if append:
            offset = len(f.data)
            assert os.write(fd, data) == length
        else:
            assert os.pwrite(fd, data, offset) == length
        f.write(offset, data)

    @rule(which=INDEX, size=SIZES, by_path=st.booleans())
    def truncate(self, which: int, size: int, by_path: bool) -> None:
        if by_path:
            path = self.pick(list(self.files), which)
            if path is None:
                return
            os.truncate(self.real(path), size)
            self.files[path].truncate(size)
        else:
            fd = self.handle(which)
            if fd is None:
                return
            os.ftruncate(fd, size)
            self.handles[fd][0].truncate(size)

    @precondition(lambda self: bool(self.handles))
    @rule(which=INDEX, data_only=st.booleans())
    def sync(self, which: int, data_only: bool) -> None:
        fd = self.handle(which)
        if fd is not None:
            (os.fdatasync if data_only else os.fsync)(fd)

    @rule(which=INDEX, mount_root=st.booleans())
    def open_dir(self, which: int, mount_root: bool) -> None:
        if len(self.dir_fds) >= MAX_DIR_HANDLES:
            return
        path = MOUNT_ROOT if mount_root else self.pick(list(self.dirs), which) or ""
        where = str(self.rec.mnt) if path == MOUNT_ROOT else self.real(path)
        self.dir_fds[os.open(where, os.O_RDONLY | os.O_DIRECTORY)] = path

    @precondition(lambda self: bool(self.dir_fds))
    @rule(which=INDEX, datasync=st.booleans())
    def fsyncdir(self, which: int, datasync: bool) -> None:
        fd = sorted(self.dir_fds)[which % len(self.dir_fds)]
        path = self.dir_fds[fd]
        before = self.rec.writer.ops
        (os.fdatasync if datasync else os.fsync)(fd)  # the kernel sends FSYNCDIR for both
        if path is None:  # removed while open: succeeds, nothing to record
            assert self.rec.writer.ops == before
            return
        traced = "" if path == MOUNT_ROOT else self.join(self.prefix, path).rstrip("/")
        assert self.rec.writer.ops == before + 1
        assert self.rec.writer.last == ("fsyncdir", {"path": traced, "datasync": datasync})

    @precondition(lambda self: bool(self.dir_fds))
    @rule(which=INDEX)
    def close_dir(self, which: int) -> None:
        fd = sorted(self.dir_fds)[which % len(self.dir_fds)]
        os.close(fd)
        del self.dir_fds[fd]

    @precondition(lambda self: bool(self.handles))
    @rule(which=INDEX)
    def close(self, which: int) -> None:
        fd = self.handle(which)
        if fd is not None:
            os.close(fd)
            del self.handles[fd]

    @rule(which=INDEX)
    def unlink(self, which: int) -> None:
        path = self.pick(list(self.files) + list(self.links), which)
        if path is None:
            return
        os.unlink(self.real(path))  # open handles keep writing to the orphan
        self.files.pop(path, None)
        self.links.pop(path, None)

    @precondition(lambda self: bool(self.files))
    @rule(which=INDEX, parent=INDEX, name=NAMES)
    def link(self, which: int, parent: int, name: str) -> None:
        src = self.pick(list(self.files), which)
        dst = self.join(self.pick(list(self.dirs), parent) or "", name)
        if src is None or self.exists(dst):
            return
        os.link(self.real(src), self.real(dst))
        self.files[dst] = self.files[src]

    @rule(parent=INDEX, name=NAMES, dest=st.sampled_from(["a", "../x", "b/c", "/abs"]))
    def symlink(self, parent: int, name: str, dest: str) -> None:
        path = self.join(self.pick(list(self.dirs), parent) or "", name)
        if self.exists(path):
            return
        os.symlink(dest, self.real(path))
        self.links[path] = dest

    @precondition(lambda self: bool(self.files))
    @rule(which=INDEX, parent=INDEX, name=NAMES)
    def rename_file(self, which: int, parent: int, name: str) -> None:
        src = self.pick(list(self.files), which)
        dst = self.join(self.pick(list(self.dirs), parent) or "", name)
        if src is None or dst == src or dst in self.dirs or dst in self.links:
            return
        os.rename(self.real(src), self.real(dst))
        if self.files.get(dst) is self.files[src]:
            return  # two names of one file: rename does nothing
        self.files[dst] = self.files.pop(src)

    @precondition(lambda self: bool(self.files))
    @rule(which=INDEX, other=INDEX, exchange=st.booleans(), name=NAMES)
    def rename_flags(self, which: int, other: int, exchange: bool, name: str) -> None:
        src = self.pick(list(self.files), which)
        if src is None:
            return
        if exchange:
            dst = self.pick(list(self.files), other)
            if dst is None or dst == src:
                return
            renameat2(self.real(src), self.real(dst), RENAME_EXCHANGE)
            self.files[src], self.files[dst] = self.files[dst], self.files[src]
            return
        dst = self.join(self.pick(list(self.dirs), other) or "", name)
        if self.exists(dst):
            with pytest.raises(FileExistsError):
                renameat2(self.real(src), self.real(dst), RENAME_NOREPLACE)
            return
        renameat2(self.real(src), self.real(dst), RENAME_NOREPLACE)
        self.files[dst] = self.files.pop(src)

    @precondition(lambda self: len(self.dirs) > 1)
    @rule(which=INDEX, parent=INDEX, name=NAMES)
    def rename_dir(self, which: int, parent: int, name: str) -> None:
        src = self.pick([d for d in self.dirs if d], which)
        dst = self.join(self.pick(list(self.dirs), parent) or "", name)
        if src is None or self.exists(dst) or dst == src or dst.startswith(src + "/"):
            return
        os.rename(self.real(src), self.real(dst))  # files open under it must follow

        def moved(p: str) -> str:
            return dst + p[len(src):] if p == src or p.startswith(src + "/") else p

        self.dirs = {moved(p): m for p, m in self.dirs.items()}
        self.dir_fds = {fd: p if p in (None, MOUNT_ROOT) else moved(p)
                        for fd, p in self.dir_fds.items()}
        self.files = {moved(p): f for p, f in self.files.items()}
        self.links = {moved(p): t for p, t in self.links.items()}

    @rule(which=INDEX)
    def rmdir(self, which: int) -> None:
        path = self.pick([d for d in self.dirs if d], which)
        if path is None:
            return
        inside = [p for p in itertools.chain(self.dirs, self.files, self.links)
                  if p.startswith(path + "/")]
        if inside:
            return
        os.rmdir(self.real(path))
        del self.dirs[path]
        self.dir_fds = {fd: None if p == path else p for fd, p in self.dir_fds.items()}

    @rule(which=INDEX, mode=MODES)
    def chmod(self, which: int, mode: int) -> None:
        path = self.pick(list(self.files) + [d for d in self.dirs if d], which)
        if path is None:
            return
        os.chmod(self.real(path), mode)
        if path in self.files:
            self.files[path].mode = mode
        else:
            self.dirs[path] = mode

    # ------------------------------------------------------------------ checks

    def expected(self) -> dict[str, tuple[str, int, bytes]]:
        tree: dict[str, tuple[str, int, bytes]] = {}
        for p, m in self.dirs.items():
            if p:
                tree[p] = ("dir", m, b"")
        for p, f in self.files.items():
            tree[p] = ("file", f.mode, bytes(f.data))
        for p, t in self.links.items():
            tree[p] = ("symlink", 0o777, t.encode())
        return tree

    @invariant()
    def mount_reads_back_the_model(self) -> None:
        seen: dict[str, tuple[str, int, bytes]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(dirpath, self.root)
            for name in dirnames + filenames:
                path = name if rel == "." else f"{rel}/{name}"
                full = os.path.join(dirpath, name)
                st_ = os.lstat(full)
                if stat.S_ISLNK(st_.st_mode):
                    seen[path] = ("symlink", 0o777, os.readlink(full).encode())
                elif stat.S_ISDIR(st_.st_mode):
                    seen[path] = ("dir", stat.S_IMODE(st_.st_mode), b"")
                else:
                    with open(full, "rb") as fh:
                        seen[path] = ("file", stat.S_IMODE(st_.st_mode), fh.read())
        assert seen == self.expected()
        for fd, (f, _) in self.handles.items():  # orphans too: only a descriptor reaches them
            assert os.fstat(fd).st_size == len(f.data)
            assert os.pread(fd, len(f.data) + 1, 0) == bytes(f.data)

    def teardown(self) -> None:
        for fd in itertools.chain(self.handles, self.dir_fds):
            os.close(fd)
        self.handles.clear()
        self.dir_fds.clear()
        replayed = final_tree(open_trace(self.rec.trace, allow_prefix=True))
        mine = {p[len(self.prefix) + 1:]: v for p, v in replayed.items()
                if p.startswith(self.prefix + "/")}
        expected = self.expected()
        # The replayer gives symlinks the mode of their op (none): compare targets only.
        for p, (kind, _, target) in list(mine.items()):
            if kind == "symlink":
                mine[p] = (kind, 0o777, target)
        assert mine.keys() == expected.keys()
        for p in expected:
            assert mine[p] == expected[p], f"replayed {p!r} differs from the model"


@pytest.mark.fuse
def test_recorder_matches_model_and_trace_replays_to_final_tree(recording: Recording) -> None:
    RecorderMachine.rec = recording
    run_state_machine_as_test(
        RecorderMachine,
        settings=settings(max_examples=25, stateful_step_count=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large]))
