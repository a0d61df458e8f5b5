"""Remove the mount a killed recorder left behind: the library behind `powercut umount`.

A recorder killed with SIGKILL cannot unmount: its FUSE mount stays, and
every access to it fails with ENOTCONN ("Transport endpoint is not
connected"). `remove_stale_mount` removes such a mount when powercut is
about to reuse the mountpoint; `umount` does it on request and also removes
the killed recorder's own temp directory when the mount was inside it.

It must never remove a mount that is not a powercut recorder's, nor one a
live recorder still serves, and never delete files through a mount.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from powercut.errors import MountError
from powercut.recorder.mount import FSNAME, is_mounted, lazy_unmount, removal_hint

TEMP_PREFIX = "powercut-record-"  # record()'s temp dir: <TMPDIR>/powercut-record-*/mnt


def mount_source(path: Path | str) -> tuple[str, str] | None:
    """(source, file-system type) of the mount at `path`, or None if nothing is mounted there."""
    target = os.path.abspath(path)
    found = None
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and _unescape(fields[1]) == target:
                found = (_unescape(fields[0]), fields[2])  # the last mount on top wins
    return found


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape")


def is_stale(path: Path | str) -> bool:
    """True when `path` is a powercut mount whose recorder is gone."""
    source = mount_source(path)
    if source is None or source[0] != FSNAME or not source[1].startswith("fuse"):
        return False
    try:
        os.stat(path)
    except OSError as e:
        return e.errno == errno.ENOTCONN
    return False


def remove_stale_mount(path: Path | str) -> bool:
    """Unmount `path` if a killed recorder left it; True when one was removed."""
    if not is_stale(path):
        return False
    if not lazy_unmount(path):
        raise MountError(f"{path} is a stale powercut mount that could not be removed; "
                         f"{removal_hint(path)}")
    return True


def umount(path: Path | str) -> str:
    """Remove the stale recorder mount at `path`; returns one line saying what was done."""
    mnt = Path(os.path.abspath(path))
    source = mount_source(mnt)
    if source is None:
        raise MountError(f"{mnt} is not a mount point; there is nothing to remove")
    if source[0] != FSNAME or not source[1].startswith("fuse"):
        raise MountError(f"{mnt} is a {source[1]} mount, not a powercut recorder's; "
                         "powercut removes only its own mounts")
    if not is_stale(mnt):
        raise MountError(f"{mnt} is served by a running powercut record; stop that recorder "
                         f"(Ctrl-C or kill PID) or, if it hangs, {removal_hint(mnt)}")
    remove_stale_mount(mnt)
    done = f"removed the stale recorder mount {mnt}"
    workdir = mnt.parent
    if mnt.name == "mnt" and workdir.name.startswith(TEMP_PREFIX) and not is_mounted(mnt):
        # The killed recorder's own temp dir (backing files of a trace it never finished).
        shutil.rmtree(workdir, ignore_errors=True)
        done += f" and its temp dir {workdir}"
    return done
