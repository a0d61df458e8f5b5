"""Crash states written by difference (`Staging`): the same trees as `materialise`, less written.

On random traces under every model, a staging given states in a random
order hands out, each time, exactly the tree `materialise` writes for that
state (contents, sizes, modes, symlinks, which names share a file), however
the checker changed the copy it had; and with reflinks it writes only the
pages that differ. Reflinks need a file system that has them: these tests
make a scratch XFS volume (root, mkfs.xfs), in a thread of their own, the
only one that sees it. On the session's own file system (no reflinks) the
staging writes every state in full, as before.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.replayer.enumeration import Enumeration
from powercut.replayer.image import Entry, Image, Overlay
from powercut.replayer.materialise import materialise
from powercut.replayer.models import get_model
from powercut.replayer.pages import FrozenPages
from powercut.replayer.staging import FAR, Staging, can_clone
from powercut.volume import ScratchVolume, attached
from tests.test_models_weak import PS, ops, trace_of


def tree_of(root: Path) -> dict[str, tuple]:
    """Every path: kind, mode, content (or target), and the other names of its file."""
    out: dict[str, tuple] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = str(full.relative_to(root))
            st_ = full.lstat()
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = ("symlink", os.readlink(full))
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st_.st_mode))
            else:
                out[rel] = ("file", stat.S_IMODE(st_.st_mode), full.read_bytes())
                inodes.setdefault(st_.st_ino, []).append(rel)
    for names in inodes.values():
        for name in names:
            out[name] += (tuple(sorted(names)),)
    return out


def in_volume(parent: Path, body: Callable[[Path], None]) -> None:
    """`body(directory)` with the directory on a scratch XFS volume, in a thread of its own
    (the only one that sees the mount); the volume is gone afterwards."""
    failed: list[BaseException] = []
    made: list[ScratchVolume] = []

    def run() -> None:
        try:
            volume = ScratchVolume(parent / "volume")
            made.append(volume)
            try:
                body(volume.path)
            finally:
                volume.close()
        except BaseException as e:
            failed.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    assert made and not attached(made[0].image)
    assert not (parent / "volume").exists()


def _scribble(root: Path, rng: random.Random) -> None:
    """What a checker may do to its copy: append, overwrite, remove, add, chmod."""
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    for path in rng.sample(files, min(len(files), 2)):
        with open(path, "r+b") as f:
            f.seek(rng.randrange(0, 3 * PS))
            f.write(b"checker" * 100)
        path.chmod(0o600)
    if files:
        rng.choice(files).unlink()
    (root / "checker.log").write_bytes(b"started\n")


def _check_sequence(directory: Path, tmp: Path, model: str, operations, seed: int) -> None:  # type: ignore[no-untyped-def]
    tmp = Path(tempfile.mkdtemp(dir=tmp))  # one per example
    trace = trace_of(tmp, operations, "s.trace")
    states = list(Enumeration(trace, get_model(model, PS), strategy="exhaustive"))
    rng = random.Random(seed)
    chosen = [rng.choice(states) for _ in range(min(12, 2 * len(states)))]
    staging = Staging(directory / "stage")
    got_all: list[Path] = []
    try:
        for i, state in enumerate(chosen):
            got = staging.enter(state)
            expected = materialise(state, tmp / f"expect-{i}")
            assert tree_of(got) == tree_of(expected.target), (i, state.name.text())
            if staging.reflinks:
                assert tree_of(staging.base) == tree_of(expected.target)
            _scribble(got, rng)
            staging.leave()
            got_all.append(got)
    finally:
        staging.close()
    assert not (directory / "stage").exists()  # every copy handed back is gone
    assert not any(got.exists() for got in got_all)
    shutil.rmtree(tmp)


_SETTINGS = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])


def test_states_in_any_order_are_the_trees_materialise_writes(tmp_path: Path) -> None:
    def body(directory: Path) -> None:
        assert can_clone(directory)

        @_SETTINGS
        @given(operations=ops(), model=st.sampled_from(["lazyfs", "ext4-ordered", "alice"]),
               seed=st.integers(0, 2**16))
        def sequence(operations, model: str, seed: int) -> None:  # type: ignore[no-untyped-def]
            _check_sequence(directory, tmp_path, model, operations, seed)

        sequence()

    in_volume(tmp_path, body)


def test_without_reflinks_every_state_is_written_in_full(tmp_path: Path) -> None:
    @_SETTINGS
    @given(operations=ops(), seed=st.integers(0, 2**16))
    def sequence(operations, seed: int) -> None:  # type: ignore[no-untyped-def]
        _check_sequence(tmp_path, tmp_path, "alice", operations, seed)

    assert not can_clone(tmp_path)  # the session's file system: ext4 or tmpfs
    sequence()


def test_a_large_file_with_four_pages_that_differ_writes_four_pages(tmp_path: Path) -> None:
    """Two states of one crash point of a 64 MiB file: after the first, each writes only the
    pages that differ from the last (counted, not timed: the time is `bench/run`'s)."""
    distinct = [bytes([i + 1]) * PS for i in range(16)]
    durable = FrozenPages({i: distinct[i % 16] for i in range(16384)})
    states = []
    for k in range(2):
        top = {i * 4000 + 3: bytes([100 + k]) * PS for i in range(4)}
        states.append(Image(PS, (Entry("db", "dir", 0o755),
                                 Entry("db/big", "file", 0o644, 16384 * PS,
                                       Overlay(durable, top)))))

    def body(directory: Path) -> None:
        staging = Staging(directory / "stage")
        try:
            staging.enter(states[0])
            assert staging.last_written == 16384 * PS
            staging.leave()
            for k in (1, 0, 1):
                got = staging.enter(states[k])
                assert staging.last_written == 4 * PS
                with open(got / "db/big", "rb") as f:
                    f.seek((4000 + 3) * PS)
                    assert f.read(PS) == bytes([100 + k]) * PS
                    f.seek(5 * PS)
                    assert f.read(PS) == distinct[5]
                staging.leave()
            assert (staging.in_full, staging.patched) == (1, 3)
        finally:
            staging.close()

    in_volume(tmp_path, body)


def _image(*entries: Entry) -> Image:
    return Image(PS, entries)


def _file(path: str, size: int, pages: dict[int, bytes], mode: int = 0o644,
          link_to: str | None = None) -> Entry:
    return Entry(path, "file", mode, size, FrozenPages(pages), link_to=link_to)


def test_each_kind_of_change_between_two_states(tmp_path: Path) -> None:
    """Hand-made pairs of states, each changing one thing, both ways round."""
    page = b"a" * PS
    d = Entry("d", "dir", 0o755)
    pairs = [
        # A page whose bytes reach past the old size: growing must write them.
        (_image(_file("f", 100, {0: page})), _image(_file("f", PS + 10, {0: page}))),
        (_image(d, _file("d/f", 3 * PS, {1: page})), _image(d, _file("d/f", 3 * PS, {1: page},
                                                                     mode=0o600))),
        (_image(Entry("l", "symlink", 0o777, target="a")),
         _image(Entry("l", "symlink", 0o777, target="b"))),
        (_image(d, _file("d/f", 5, {0: page})), _image(_file("d", 5, {0: page}))),
        (_image(_file("a", 9, {0: page}), _file("b", 9, {0: page}, link_to="a")),
         _image(_file("a", 9, {0: page}), _file("b", 9, {0: page}))),
        (_image(d, Entry("d/e", "dir", 0o700)), _image(Entry("d", "dir", 0o500),
                                                       Entry("d/e", "dir", 0o750))),
        (_image(_file("f", 2 * PS, {0: page, 1: page})), _image(_file("f", PS // 2, {0: page}))),
    ]

    def body(directory: Path) -> None:
        staging = Staging(directory / "stage")
        try:
            for n, (a, b) in enumerate(pairs):
                for first, second in ((a, b), (b, a)):
                    staging.enter(first)
                    staging.leave()
                    got = staging.enter(second)
                    expected = materialise(second, tmp_path / f"expect-{n}-{first is a}")
                    assert tree_of(got) == tree_of(expected.target), n
                    staging.leave()
            assert staging.patched >= len(pairs)
        finally:
            staging.close()

    in_volume(tmp_path, body)


def test_two_kinds_of_states_by_turns_keep_a_base_each(tmp_path: Path) -> None:
    """ALICE's bootstrap states hold the WAL as 64 MB of garbage or as zeros, by turns: each
    kind gets a base of its own, and going back and forth writes next to nothing."""
    size = (FAR // PS + 1) * PS
    garbage = {i: bytes([65 + i % 26]) * PS for i in range(size // PS)}
    kinds = [_image(_file("wal", size, garbage)), _image(_file("wal", size, {}))]
    pages = [{0: b"x" * PS}, {0: b"y" * PS}]
    states = [_image(_file("wal", size, dict(kinds[turn % 2].entries[0].pages)),
                     _file("log", PS, pages[turn % 2])) for turn in range(6)]

    def body(directory: Path) -> None:
        staging = Staging(directory / "stage")
        try:
            written = []
            for state in states:
                got = staging.enter(state)
                assert tree_of(got) == tree_of(materialise(state, Path(tempfile.mkdtemp(
                    dir=tmp_path)) / "t").target)
                written.append(staging.last_written)
                staging.leave()
            assert written[0] == size + PS and written[1] == PS  # each kind in full, once
            assert all(w <= PS for w in written[2:]), written
        finally:
            staging.close()

    in_volume(tmp_path, body)


def test_a_large_file_under_a_renamed_directory_is_moved_not_written(tmp_path: Path) -> None:
    """ALICE's rename in pieces shows a directory with a large file in it under one name or
    the other: the base renames the file across and patches what differs."""
    big = {i: bytes([i % 250 + 1]) * PS for i in range(200)}
    changed = {**big, 7: b"z" * PS}
    states = [_image(Entry("wal.tmp", "dir", 0o700), _file("wal.tmp/0.wal", 200 * PS, big)),
              _image(Entry("wal", "dir", 0o700), _file("wal/0.wal", 200 * PS, changed),
                     _file("wal/0.tmp", 10, {0: b"t" * PS}))]

    def body(directory: Path) -> None:
        staging = Staging(directory / "stage")
        try:
            for n, state in enumerate([*states, states[0], states[1]]):
                got = staging.enter(state)
                expected = materialise(state, tmp_path / f"moved-{n}")
                assert tree_of(got) == tree_of(expected.target), n
                assert n == 0 or staging.last_written <= 2 * PS, (n, staging.last_written)
                staging.leave()
        finally:
            staging.close()

    in_volume(tmp_path, body)
