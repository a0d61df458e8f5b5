"""Materialising a state: sparse stays sparse, modes kept, nothing written outside the target."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.errors import PowercutError, TraceError
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.image import Entry, Image
from powercut.replayer.materialise import TooLarge, materialise
from powercut.replayer.models import get_model
from powercut.replayer.pages import FrozenPages
from powercut.replayer.replay import state_at
from powercut.replayer.state import unfold_ids
from powercut.trace import MAX_FILE_OFFSET, TraceWriter, open_trace


def _tree_of(root: Path) -> dict[str, tuple[str, int, bytes]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = str(full.relative_to(root))
            st_ = full.lstat()
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = ("symlink", 0o777, os.readlink(full).encode())
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st_.st_mode), b"")
            else:
                out[rel] = ("file", stat.S_IMODE(st_.st_mode), full.read_bytes())
    return out


def test_sparse_files_modes_links_and_symlinks(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    with TraceWriter(path, argv=["t"], workload={}) as w:
        w.append("mkdir", 1, path="ro", mode=0o500)  # read-only: children written first
        w.append("mkdir", 1, path="ro/d", mode=0o750)
        w.append("create", 1, path="ro/d/wal", mode=0o640)
        w.append("truncate", 1, path="ro/d/wal", size=64_000_000)
        w.append("write", 1, path="ro/d/wal", offset=4096 * 100 + 7, data=b"entry")
        w.append("link", 1, src="ro/d/wal", dst="ro/hard")
        w.append("symlink", 1, path="ro/d/s", target="../hard")
    trace = open_trace(path)
    state = state_at(trace, get_model(), 6)
    done = materialise(state, tmp_path / "out")
    wal = tmp_path / "out/ro/d/wal"
    st_ = wal.stat()
    assert st_.st_size == 64_000_000
    assert st_.st_blocks * 512 <= 64 * 1024  # one page written, the rest a hole
    assert stat.S_IMODE(st_.st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "out/ro").stat().st_mode) == 0o500
    assert (tmp_path / "out/ro/hard").stat().st_ino == st_.st_ino
    with open(wal, "rb") as f:
        f.seek(4096 * 100)
        assert f.read(16) == b"\0" * 7 + b"entry" + b"\0" * 4
    assert os.readlink(tmp_path / "out/ro/d/s") == "../hard"
    assert (done.files, done.dirs, done.symlinks) == (2, 2, 1)
    lost = state_at(trace, get_model(), 6, keep=[])
    materialise(lost, tmp_path / "lost")
    assert (tmp_path / "lost/ro/d/wal").stat().st_size == 64_000_000
    assert (tmp_path / "lost/ro/d/wal").stat().st_blocks == 0


def test_every_state_materialises_to_its_image(tmp_path: Path) -> None:
    path = tmp_path / "t.trace"
    with TraceWriter(path, argv=["t"], workload={}) as w:
        w.append("create", 1, path="f", mode=0o600)
        w.append("write", 1, path="f", offset=100, data=b"a" * 9000)
    states = Enumeration(open_trace(path), get_model(), points=[1])
    for i, state in enumerate(states):
        target = tmp_path / f"s{i}"
        materialise(state, target)
        data = (target / "f").read_bytes()
        lost = {int(u.rpartition(":")[2]) for u in unfold_ids(state.name.lost)}
        pages = [p for p in range(3) if p not in lost]
        expect = bytearray(b"\0" * 100 + b"a" * 9000)
        for p in range(3):
            if p not in pages:
                expect[p * 4096:(p + 1) * 4096] = bytes(len(expect[p * 4096:(p + 1) * 4096]))
        size = max([0] + [min(9100, (p + 1) * 4096) for p in pages])
        assert data == bytes(expect[:size])


def test_target_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full/x").write_text("keep me")
    with pytest.raises(PowercutError, match="not empty"):
        materialise(Image(4096, ()), tmp_path / "full")
    assert (tmp_path / "full/x").read_text() == "keep me"


def _file(path: str, data: bytes = b"x") -> Entry:
    return Entry(path, "file", 0o644, len(data), FrozenPages({0: data.ljust(4096, b"\0")}))


@pytest.mark.parametrize("entries", [
    (_file("../escape"),),
    (_file("/etc/escape"),),
    (_file("a/./b"),),
    (Entry("s", "symlink", 0o777, target="/etc"),),
    (Entry("d", "dir", 0o755), Entry("d/s", "symlink", 0o777, target="../../x")),
    # A symlink inside the tree is never followed, even to write a file "under" it.
    (Entry("d", "dir", 0o755), Entry("s", "symlink", 0o777, target="d"), _file("s/f")),
    (Entry("s", "symlink", 0o777, target="f"), _file("s")),
    # Each target alone stays inside; resolved through d/s, x climbs out.
    (Entry("d", "dir", 0o755), Entry("d/s", "symlink", 0o777, target=".."),
     Entry("x", "symlink", 0o777, target="d/s/..")),
    (_file("f"), _file("f")),
    (_file("f"), Entry("h", "file", 0o644, link_to="s"), Entry("s", "symlink", 0o777,
                                                            target="f")),
])
def test_hostile_states_are_refused_and_nothing_escapes(tmp_path: Path, entries) -> None:
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(TraceError):
        materialise(Image(4096, entries), parent / "target")
    assert sorted(os.listdir(parent)) in ([], ["target"])
    assert sorted(os.listdir(tmp_path)) == ["parent"]
    assert not Path("/etc/escape").exists()


_PART = st.sampled_from(["a", "b", "..", ".", "", "/", "c"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(
    st.sampled_from(["file", "dir", "symlink", "link"]),
    st.lists(_PART, min_size=1, max_size=4).map("/".join),
    st.lists(_PART, min_size=1, max_size=4).map("/".join)), max_size=6))
def test_random_hostile_paths_never_write_outside(tmp_path: Path, items) -> None:
    root = tmp_path / f"run{len(os.listdir(tmp_path))}"
    parent = root / "parent"
    parent.mkdir(parents=True)
    entries = []
    for kind, path, other in items:
        if kind == "file":
            entries.append(_file(path, b"payload"))
        elif kind == "dir":
            entries.append(Entry(path, "dir", 0o755))
        elif kind == "symlink":
            entries.append(Entry(path, "symlink", 0o777, target=other))
        else:
            entries.append(Entry(path, "file", 0o644, link_to=other))
    with contextlib.suppress(TraceError):  # refusing is fine; escaping is not
        materialise(Image(4096, tuple(entries)), parent / "target")
    assert sorted(os.listdir(root)) == ["parent"]
    assert sorted(os.listdir(parent)) in ([], ["target"])
    for dirpath, dirnames, filenames in os.walk(parent):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            if full.is_symlink():
                try:
                    os.stat(full)
                except OSError as e:
                    if e.errno == errno.ELOOP:
                        continue  # a loop inside the state leads nowhere
                resolved = Path(os.path.realpath(full))
                assert resolved.is_relative_to((parent / "target").resolve()), resolved


def test_a_file_past_the_file_systems_limit_is_one_clear_error(tmp_path: Path) -> None:
    """The reader allows writes up to 16 TiB; ext4 stops 4 KiB short of that (EFBIG)."""
    with TraceWriter(tmp_path / "t.trace", argv=["t"], workload={"name": "command"}) as w:
        w.append("create", 1, path="huge", mode=0o644)
        w.append("write", 1, path="huge", offset=MAX_FILE_OFFSET - 1, data=b"x")
    trace = open_trace(tmp_path / "t.trace")
    state = state_at(trace, get_model("lazyfs", trace.page_size), 1)
    try:
        materialise(state, tmp_path / "state")
    except TooLarge as e:  # ext4, as here
        assert "cannot hold a file this large" in str(e)
        assert "xfs or btrfs" in str(e)
    else:  # xfs, btrfs: sparse, so it costs nothing
        assert (tmp_path / "state" / "huge").stat().st_size == MAX_FILE_OFFSET
