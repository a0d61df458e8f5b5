"""Remove the mount a killed recorder left behind: the library behind `powercut umount`.

A recorder killed with SIGKILL cannot unmount. Its guardian (`powercut.guard`)
normally ends its workload's sessions and removes its mounts at once; if
the guardian was killed too, the FUSE mount stays, every access to it
fails with ENOTCONN ("Transport endpoint is not connected"), and the
workload runs on. `remove_stale_mount` then undoes the dead recorder's
ledger (its workload's sessions, a kernel file system mounted from its
image) and kills what still holds the mount (a process whose cwd, root, an
open or a mapped file is on it), then removes the mount; `umount` does it
on request and also removes the killed recorder's own temp directory when
the mount was inside it.

It must never remove a mount that is not a powercut recorder's, nor one a
live recorder still serves, never delete files through a mount, and never
kill a process only because its command line names the path: the shell,
`timeout` or Makefile recipe that runs `powercut umount PATH` names it too.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from powercut import guard
from powercut.errors import MountError
from powercut.process import kill_holders
from powercut.recorder.mount import FSNAME, is_mounted, lazy_unmount, mount_at, removal_hint

TEMP_PREFIX = "powercut-record-"  # record()'s temp dir: <TMPDIR>/powercut-record-*/mnt


def mount_source(path: Path | str) -> tuple[str, str] | None:
    """(source, file-system type) of the mount at `path`, or None if nothing is mounted there."""
    found = mount_at(path)
    return None if found is None else (found.source, found.fstype)


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
    """End a killed recorder's workload and unmount `path`; True when one was removed."""
    if not is_stale(path):
        return False
    # The dead recorders' ledgers (their workloads' sessions, their kernel mounts): in this
    # TMPDIR, and in the one of the recorder whose temp dir holds the mount.
    guard.reap()
    parent = Path(os.path.abspath(path)).parent
    if parent.name.startswith(TEMP_PREFIX):
        guard.reap(parent.parent)
    kill_holders(path)  # whatever else still works on the dead mount
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
