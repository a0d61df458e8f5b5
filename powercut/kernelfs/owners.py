"""What owns a block of a file-system image: a file, the journal or log, metadata.

A crash state of a kernel trace loses pages of the image, and "page 3201
of disk.img" is only a place. Where the file system's own tools can tell,
this names what lives there, read from an unmounted image: ext4 through
`debugfs` (icheck, then ncheck), XFS through `xfs_db` (blockget, then
blockuse per sector). btrfs maps logical to physical addresses through
its chunk tree, and no read-only tool answers "who owns this physical
block", so its blocks stay unnamed. Read-only; never mounts.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

TIMEOUT = 120.0
_EXT4_SPECIAL = {1: "the ext4 bad-blocks inode", 5: "the ext4 boot loader inode",
                 7: "the ext4 resize inode", 8: "the ext4 journal"}
_XFS_USE = re.compile(r"^block \d+ \(\d+/\d+\) type (\S+)(?: inode (\d+)(?: (.*))?)?$")


def owners(image: Path, fs_type: str, offsets: Iterable[int]) -> dict[int, str]:
    """For each byte offset, what owns the block there ("" where the tool cannot tell)."""
    wanted = sorted(set(offsets))
    if not wanted:
        return {}
    try:
        if fs_type == "ext4":
            return _ext4(image, wanted)
        if fs_type == "xfs":
            return _xfs(image, wanted)
    except (OSError, subprocess.SubprocessError):
        pass
    return dict.fromkeys(wanted, "")


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL, check=False)
    return done.stdout


def _ext4(image: Path, offsets: list[int]) -> dict[int, str]:
    blocks = {o: o // 4096 for o in offsets}  # mkfs.ext4 -b 4096: a block is a page
    inode_of: dict[int, int | None] = {}
    for line in _run(["debugfs", "-R", "icheck " + " ".join(map(str, sorted(
            set(blocks.values())))), str(image)]).splitlines()[1:]:
        block, _, inode = line.partition("\t")
        if block.strip().isdigit():
            inode_of[int(block)] = int(inode) if inode.strip().isdigit() else None
    inodes = sorted({i for i in inode_of.values() if i is not None and i not in _EXT4_SPECIAL})
    path_of: dict[int, str] = {}
    if inodes:
        for line in _run(["debugfs", "-R", "ncheck -c " + " ".join(map(str, inodes)),
                          str(image)]).splitlines()[1:]:
            inode, _, path = line.partition("\t")
            if inode.strip().isdigit():
                path_of.setdefault(int(inode), path.strip().lstrip("/"))
    out = {}
    for offset, block in blocks.items():
        inode = inode_of.get(block)
        if inode is None:
            out[offset] = "ext4 metadata or free space" if block in inode_of else ""
        elif inode in _EXT4_SPECIAL:
            out[offset] = _EXT4_SPECIAL[inode]
        else:
            out[offset] = path_of.get(inode) or f"ext4 inode {inode}"
    return out


def _xfs(image: Path, offsets: list[int]) -> dict[int, str]:
    commands = ["-c", "blockget -n"]
    for offset in offsets:
        commands += ["-c", f"daddr {offset // 512}", "-c", "blockuse -n"]
    said = [line for line in _run(["xfs_db", "-r", *commands, str(image)]).splitlines()
            if line.startswith("block ")]
    out = {}
    for offset, line in zip(offsets, said, strict=False):
        m = _XFS_USE.match(line.strip())
        if m is None:
            out[offset] = ""
        elif m.group(3):
            out[offset] = m.group(3)
        elif m.group(1) == "log":
            out[offset] = "the XFS log"
        elif m.group(1).startswith("free"):
            out[offset] = "XFS free space"
        else:
            out[offset] = f"XFS metadata ({m.group(1)})"
    for offset in offsets:
        out.setdefault(offset, "")
    return out
