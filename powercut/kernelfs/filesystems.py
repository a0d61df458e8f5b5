"""The kernel file systems powercut records on: how to make one, check one, and name one.

One `FileSystem` per kernel file system: its mkfs command (and the options
powercut adds: 4 KiB blocks, so a block is a page of the image), its
read-only check (`--fsck`), the smallest image it accepts, and the version
of its tools for the trace header. `make_image` writes a fresh sparse image
file and formats it; nothing here mounts.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut.errors import PowercutError

MiB = 1 << 20
DEFAULT_SIZE = 320 * MiB  # etcd's 64 MiB WAL fits, and XFS's 300 MB minimum
IMAGE = "disk.img"  # the image's name in the trace's initial tree


@dataclass(frozen=True)
class FileSystem:
    name: str
    mkfs: tuple[str, ...]  # the program and the options powercut always gives
    fsck: tuple[str, ...]  # a read-only check of an image (its path is appended)
    min_size: int
    package: str  # the Debian package with its tools
    version_args: tuple[str, ...]

    def mkfs_argv(self, image: Path, options: tuple[str, ...] = ()) -> list[str]:
        return [*self.mkfs, *options, os.fspath(image)]

    def fsck_argv(self, image: Path) -> list[str]:
        return [*self.fsck, os.fspath(image)]

    def problem(self) -> str | None:
        """Why this file system cannot be used here, or None."""
        if not shutil.which(self.mkfs[0]):
            return f"{self.mkfs[0]} is missing (apt install {self.package})"
        if self.name not in supported():
            return f"this kernel ({platform.release()}) does not support {self.name}"
        return None

    def tools_version(self) -> str:
        try:
            done = subprocess.run([self.mkfs[0], *self.version_args], capture_output=True,
                                  text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
        except OSError:
            return "unknown"
        text = (done.stdout + done.stderr).strip().splitlines()
        return text[0].strip() if text else "unknown"


FILE_SYSTEMS = {
    # Inode tables and journal zeroed at mkfs (as unwritten extents: still a sparse image),
    # so no background ext4lazyinit thread writes to the image while recording or checking.
    "ext4": FileSystem("ext4", ("mkfs.ext4", "-q", "-F", "-b", "4096",
                                "-E", "lazy_itable_init=0,lazy_journal_init=0"),
                       ("e2fsck", "-f", "-n"), 4 * MiB, "e2fsprogs", ("-V",)),
    "xfs": FileSystem("xfs", ("mkfs.xfs", "-q", "-f"), ("xfs_repair", "-n"), 300 * MiB,
                      "xfsprogs", ("-V",)),
    "btrfs": FileSystem("btrfs", ("mkfs.btrfs", "-q", "-f"), ("btrfs", "check", "--readonly"),
                        114 * MiB, "btrfs-progs", ("--version",)),
}


def label(fs: Mapping[str, Any]) -> str:
    """How reports name a trace's kernel file system: its type and any mount options
    ("ext4", "ext4 data=writeback")."""
    options = str(fs.get("mount_options") or "")
    return f"{fs.get('type')} {options}".strip()


def supported() -> set[str]:
    """The file systems this kernel can mount from a block device (/proc/filesystems)."""
    try:
        with open("/proc/filesystems") as f:
            return {line.split()[-1] for line in f if line.strip() and
                    not line.startswith("nodev")}
    except OSError:
        return set()


def get(name: str) -> FileSystem:
    try:
        fs = FILE_SYSTEMS[name]
    except KeyError:
        raise PowercutError(f"--fs {name!r}: expected one of {', '.join(FILE_SYSTEMS)}") from None
    problem = fs.problem()
    if problem is not None:
        raise PowercutError(f"--fs {name}: {problem}")
    return fs


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b?)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in "320M", "1G", "67108864" (K, M, G, T are powers of 1024)."""
    m = _SIZE.match(text)
    if m is None:
        raise PowercutError(f"--fs-size {text!r}: expected a size such as 320M or 1G")
    return int(m.group(1)) << (10 * " kmgt".index(m.group(2).lower() or " "))


def make_image(image: Path, fs: FileSystem, size: int, options: tuple[str, ...] = (),
               log: Path | None = None) -> None:
    """A new sparse file of `size` bytes at `image`, formatted as `fs` with `options`."""
    if size < fs.min_size:
        raise PowercutError(f"--fs-size {size >> 20} MiB is below {fs.name}'s smallest "
                            f"file system ({fs.min_size >> 20} MiB)")
    if image.exists():
        raise PowercutError(f"{image} exists; --fs makes a new image (give another "
                            "--keep-backing directory)")
    with open(image, "xb") as f:
        f.truncate(size)
    argv = fs.mkfs_argv(image, options)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)
    if log is not None:
        log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        image.unlink(missing_ok=True)
        said = (done.stderr or done.stdout).strip().splitlines()
        raise PowercutError(f"{' '.join(argv[:-1])} failed: "
                            f"{said[-1] if said else f'exit status {done.returncode}'}")
