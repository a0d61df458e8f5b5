"""The kernel checker on real images: the kernel's refusal as a signature, fsck as evidence,
and one verdict per recovered tree.

Each image is made with the real mkfs, attached to a real loop device and
mounted by the real kernel; the checker inside is a plain command.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from powercut.explorer.checkers import CommandChecker
from powercut.explorer.checkers.kernel import OnImage
from powercut.kernelfs import filesystems, loop
from powercut.kernelfs.mounting import mount, mount_points, unmount

pytestmark = pytest.mark.kernelfs

MiB = 1 << 20


def image(tmp_path: Path, fs: str, size: int = 32 * MiB) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    filesystems.make_image(state / "disk.img", filesystems.get(fs), size)
    return state


def put(state: Path, fs: str, name: str, data: bytes) -> None:
    """A file written into the image through a mount of its own (then unmounted)."""
    where = state.parent / "put"
    where.mkdir(exist_ok=True)
    with loop.attached(state / "disk.img") as device:
        mount(device.path, where, fs)
        try:
            (where / name).write_bytes(data)
        finally:
            unmount(where)


def checker(command: str, fs: str, **kw: bool) -> OnImage:
    return OnImage(CommandChecker(command), {"type": fs, "image": "disk.img"}, **kw)


def nothing_left(tmp_path: Path) -> None:
    assert not [n for n, i in loop.bound().items() if i.startswith(str(tmp_path))]
    assert not [m for m in mount_points() if m.startswith(str(tmp_path))]


def test_an_image_the_kernel_refuses_is_unrecoverable_in_its_words(tmp_path: Path) -> None:
    state = image(tmp_path, "ext4")
    with open(state / "disk.img", "r+b") as f:  # the primary super block, zeroed
        os.pwrite(f.fileno(), bytes(4096), 0)
    verdict = checker("true {dir}", "ext4").check(state, [], scratch=tmp_path / "work")
    assert verdict.verdict == "unrecoverable"
    assert verdict.signature.startswith("ext4: ") and "loop" in verdict.excerpt.lower()
    assert "EXT4-fs" in verdict.excerpt and verdict.evidence.notes["mount"] == "refused"
    nothing_left(tmp_path)


@pytest.mark.parametrize("fs", ["ext4", "xfs", "btrfs"])
def test_the_checker_runs_on_the_mount_with_fsck_as_evidence(tmp_path: Path, fs: str) -> None:
    state = image(tmp_path, fs, 320 * MiB if fs == "xfs" else 128 * MiB)
    put(state, fs, "hello", b"hello\n")
    judge = checker("grep -q hello {dir}/hello", fs, fsck=True)
    verdict = judge.check(state, [], scratch=tmp_path / "work")
    assert verdict.verdict == "ok", verdict
    assert verdict.evidence.notes["fsck"]["clean"] is True, verdict.evidence.notes["fsck"]
    failing = checker("test -e {dir}/absent", fs).check(state, [], scratch=tmp_path / "w2")
    assert failing.verdict == "unrecoverable"
    nothing_left(tmp_path)


def test_a_second_state_with_the_same_recovered_tree_reuses_the_verdict(tmp_path: Path) -> None:
    state = image(tmp_path, "ext4")
    put(state, "ext4", "f", b"same")
    counter = tmp_path / "runs"
    judge = checker(f"sh -c 'echo x >> {counter}; test -e {{dir}}/f'", "ext4")
    first = judge.check(state, [], scratch=tmp_path / "w1")
    # Another image with the same tree: a block nothing reads changed (free space).
    with open(state / "disk.img", "r+b") as f:
        os.pwrite(f.fileno(), b"noise" * 800, 30 * MiB)
    second = judge.check(state, [], scratch=tmp_path / "w2")
    assert first.verdict == second.verdict == "ok"
    assert counter.read_text().count("x") == 1  # the program ran once
    assert second.evidence.notes.get("same_recovered_tree") is True
    put(state, "ext4", "f", b"other")  # another tree: judged anew
    judge.check(state, [], scratch=tmp_path / "w3")
    assert counter.read_text().count("x") == 2
    nothing_left(tmp_path)
