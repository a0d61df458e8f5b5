"""A scratch file system that clones files, for one worker thread, gone when the thread is.

Materialising a crash state by difference (see the replayer's `staging`)
needs reflinks: a clone of a 1 GiB file shares its blocks and costs a few
extents, not a gigabyte of writes. ext4 and tmpfs have none. Where the work
dir cannot clone, a worker gets a `ScratchVolume`: a sparse image file in
its own directory, formatted XFS (reflinks are its default) and mounted
through a loop device, in a mount namespace of the worker thread's own
(`namespaces.private_mounts`). Only that thread and the programs it starts
see the mount. `mount -o loop` attaches the loop device with autoclear, so
the device is detached as soon as the file system is unmounted.

Nothing outlives it: `close()` unmounts it (from any thread) and removes the
image; if powercut is killed outright, its threads and the namespace's
last reference go with it, the kernel unmounts the file system and the
loop device detaches itself (a checker left running in the namespace keeps
it until the next exploration reaps that checker by its work dir). Only the
loop device this volume attached is ever detached. It needs root, `mount`
and `mkfs.xfs`; `ScratchVolume.refused()` says why not, and callers then
materialise in full as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from powercut import namespaces
from powercut.errors import PowercutError

SIZE_LIMIT = 1 << 40  # the image's apparent size, at most (it is sparse)
FREE_SHARE = 0.9  # ... and at most this share of the space free where it lives
MIN_SIZE = 1 << 30
DETACH_WAIT = 5.0


class VolumeError(PowercutError):
    """A scratch volume could not be made or removed."""


class ScratchVolume:
    """An XFS file system with reflinks at `path`, seen only by the thread that made it."""

    def __init__(self, directory: Path) -> None:
        """Make it under `directory` (created; the image and the mount point go there), in
        the calling thread, which from now on lives in a mount namespace of its own."""
        why = self.refused()
        if why is not None:
            raise VolumeError(f"no scratch volume here: {why}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.image = self.directory / "volume.img"
        self.path = self.directory / "mnt"
        self.path.mkdir(exist_ok=True)
        self.owner = threading.get_native_id()
        self.device: str | None = None
        self._namespace: int | None = None
        self._home: int | None = None
        try:
            self._make()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def refused() -> str | None:
        """Why no scratch volume can be made here, or None."""
        if os.geteuid() != 0:
            return "mounting a file system needs root"
        for program in ("mount", "mkfs.xfs"):
            if shutil.which(program) is None:
                return f"{program} is not installed"
        return namespaces.refused("mnt")

    def _make(self) -> None:
        free = shutil.disk_usage(self.directory).free
        size = max(MIN_SIZE, min(SIZE_LIMIT, int(free * FREE_SHARE)))
        with open(self.image, "xb") as f:
            f.truncate(size)
        _run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", "-l", "size=64m", str(self.image)])
        self._home = namespaces.host_mounts()
        self._namespace = namespaces.private_mounts()
        _run(["mount", "-t", "xfs", "-o", "loop,discard,nosuid,nodev", str(self.image),
              str(self.path)])
        st = os.stat(self.path)
        self.device = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"

    def close(self) -> None:
        """Unmount (the loop device detaches itself), leave the namespace, remove the image.
        From the thread that made the volume or any other; safe to call twice."""
        try:
            if self._namespace is not None:
                if threading.get_native_id() == self.owner:
                    namespaces.unmount(str(self.path))
                    if self._home is not None:
                        namespaces.leave_mounts(self._home)
                else:
                    namespaces.unmount_in(self._namespace, str(self.path))
                self._wait_detached()
        finally:
            for fd in (self._namespace, self._home):
                if fd is not None:
                    os.close(fd)
            self._namespace = self._home = None
            shutil.rmtree(self.directory, ignore_errors=True)

    def _wait_detached(self) -> None:
        """Wait until no loop device has this image attached (autoclear is asynchronous)."""
        deadline = time.monotonic() + DETACH_WAIT
        while attached(self.image):
            if time.monotonic() >= deadline:
                raise VolumeError(f"the loop device of {self.image} did not detach within "
                                  f"{DETACH_WAIT:g} s after the unmount")
            time.sleep(0.01)


def attached(image: Path | str) -> list[str]:
    """The loop devices that have `image` attached (from sysfs)."""
    wanted = os.path.abspath(image)
    found = []
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return []
    for name in names:
        if not name.startswith("loop"):
            continue
        try:
            with open(f"/sys/block/{name}/loop/backing_file") as f:
                backing = f.read().strip()
        except OSError:
            continue
        if backing.removesuffix(" (deleted)") == wanted:
            found.append(f"/dev/{name}")
    return found


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise VolumeError(f"{' '.join(argv[:2])} failed (exit {done.returncode}): {last[0]}")
