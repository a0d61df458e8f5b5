"""Recording on a kernel file system (`record --fs`): the image, its loop device, its mount.

The workload runs on a real ext4, XFS or btrfs. Its image (`disk.img`) is
made in the backing directory before anything is recorded, and the
workload's `prepare` hook runs on it mounted directly (unrecorded), so
image and prepared files are the trace's initial tree. Then the image is
attached to a loop device *through the recording mount*, with buffered
I/O: every block the kernel file system writes is a `write` of
`disk.img` in the trace, and every flush an `fsync` of it. The workload's
`{mnt}` is that kernel mount.

Markers: the virtual `.powercut/` cannot live in a kernel file system, so
the workload reaches the marker file through the recording mount, named by
`$POWERCUT_MARKER` (set for every workload, FUSE or kernel) and by
`{marker}` in a command's arguments; a workload in this process
(`Markers(mnt)`) finds the recorder's file system at the kernel mount too.

Every loop device and mount is written to the guardian's ledger before it
is made, and taken off in `finally`, kernel mount first, so none outlives
the recording, even a SIGKILLed one.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut import guard
from powercut.errors import MountError
from powercut.kernelfs import filesystems, loop
from powercut.kernelfs.filesystems import DEFAULT_SIZE, IMAGE, FileSystem
from powercut.kernelfs.mounting import MountFailed, mount, unmount
from powercut.recorder.markers import CONTROL_DIR, MARKER_FILE

MARKER_ENV = "POWERCUT_MARKER"


@dataclass(frozen=True)
class OnKernel:
    """Where a workload runs with `--fs`: the file system, its image size, its options."""

    fs: str
    size: int = DEFAULT_SIZE
    mkfs_options: tuple[str, ...] = ()
    mount_options: str = ""

    @property
    def filesystem(self) -> FileSystem:
        return filesystems.get(self.fs)

    def check(self) -> None:
        """Refuse at once, in one line, what cannot work here (no tool, no kernel support,
        no loop device, an image too small)."""
        fs = self.filesystem
        problem = loop.available()
        if problem is not None:
            raise MountError(f"--fs {self.fs}: {problem}")
        if self.size < fs.min_size:
            raise MountError(f"--fs-size {self.size >> 20} MiB is below {fs.name}'s smallest "
                             f"file system ({fs.min_size >> 20} MiB)")

    def header(self) -> dict[str, Any]:
        """The trace header's `fs` map."""
        fs = self.filesystem
        return {"type": fs.name, "image": IMAGE, "size": self.size,
                "mkfs": [*fs.mkfs[1:], *self.mkfs_options], "mkfs_version": fs.tools_version(),
                "mount_options": self.mount_options, "kernel": platform.release()}


def make(spec: OnKernel, backing: Path, workdir: Path) -> Path:
    """The formatted image in `backing`, unrecorded: the trace's initial tree."""
    image = backing / IMAGE
    filesystems.make_image(image, spec.filesystem, spec.size, spec.mkfs_options,
                           log=workdir / "mkfs.log")
    return image


@contextlib.contextmanager
def mounted_image(image: Path, where: Path, spec: OnKernel) -> Iterator[Path]:
    """`image` on a loop device, mounted at `where` for the block; always taken off."""
    where.mkdir(parents=True, exist_ok=True)
    guard.hold(image=os.fspath(image))
    guard.hold(mount=os.fspath(where))
    with loop.attached(image) as device:
        try:
            mount(device.path, where, spec.fs, spec.mount_options)
        except MountFailed as e:
            raise MountFailed(f"--fs {spec.fs}: {e}", e.errno, e.kernel) from None
        try:
            yield where
        finally:
            unmount(where)


def prepare_on_image(prepare: Any, image: Path, workdir: Path, spec: OnKernel) -> None:
    """Run a workload's `prepare(root)` hook on the image mounted directly (unrecorded)."""
    with mounted_image(image, workdir / "prepare", spec) as root:
        prepare(root)


def marker_path(fuse_mnt: Path) -> Path:
    return fuse_mnt / CONTROL_DIR / MARKER_FILE


@contextlib.contextmanager
def marker_env(fuse_mnt: Path) -> Iterator[None]:
    """$POWERCUT_MARKER names the recording mount's marker file for the workload's programs."""
    before = os.environ.get(MARKER_ENV)
    os.environ[MARKER_ENV] = os.fspath(marker_path(fuse_mnt))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MARKER_ENV, None)
        else:
            os.environ[MARKER_ENV] = before
