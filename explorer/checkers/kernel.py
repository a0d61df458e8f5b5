"""Judging a crash state of a kernel file-system trace: the real kernel recovers the image.

A trace recorded with `record --fs` has one initial file, the image, and
its crash states are the disk after a power cut (the disk's volatile write
cache under the lazyfs rules). `OnImage` wraps the checker of the trace's
target: for each state it attaches the state's image to a free loop
device, mounts it (the kernel replays its own journal: that is the
recovery under test), runs the target's checker with the mount as `{dir}`,
then unmounts and detaches. So every built-in checker and every
`--check-cmd` works unchanged.

A mount the kernel refuses is `unrecoverable`, its signature the kernel's
own message ("EXT4-fs (loop<N>): VFS: Can't find ext4 filesystem"). With
`fsck`, the file system's read-only check runs on the recovered image
before the program does, and its verdict is evidence.

powercut attaches, mounts, unmounts and detaches, never the checker: the
checker's programs are killed on a timeout or an early hang decision, and
what they held must still be taken off. Each resource is written to the
guardian's ledger first (`powercut.guard`), so none outlives a SIGKILLed
powercut either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import re
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut import guard
from powercut.errors import PowercutError
from powercut.explorer.checkers.base import Checker, scratch_dir
from powercut.explorer.checkers.recovered import Judged, tree_key
from powercut.explorer.checkers.signature import normalise
from powercut.explorer.verdict import Evidence, Verdict
from powercut.kernelfs import filesystems, loop
from powercut.kernelfs.mounting import KernelLog, MountFailed, mount, unmount
from powercut.trace import Op, Trace

FSCK_SECONDS = 120.0
_LOOP = re.compile(r"\bloop\d+\b")
_KERNEL_LINES = 20  # kernel messages kept as evidence
_SAME_UUID = {"xfs": ("nouuid",)}


class Refused(Exception):
    """The kernel would not mount a crash image (`failure` says what it logged)."""

    def __init__(self, failure: MountFailed, fsck: dict[str, Any] | None) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.fsck = fsck


class OnImage(Checker):
    """The target's checker, run on the kernel's recovery of each crash image."""

    def __init__(self, inner: Checker, fs: Mapping[str, Any], *, fsck: bool = False) -> None:
        self.inner = inner
        self.fs = dict(fs)
        self.type = str(fs["type"])
        self.image = str(fs["image"])
        self.options = str(fs.get("mount_options") or "")
        # Every crash image is a copy of one file system: XFS refuses a second mount of
        # the same UUID unless told it is not a duplicate (workers mount copies at once).
        self.check_options = ",".join(filter(None, (self.options, *_SAME_UUID.get(
            self.type, ()))))
        self.fsck = filesystems.get(self.type) if fsck else None
        self.name = inner.name
        self.uses_markers = inner.uses_markers
        self.evidence_fields = inner.evidence_fields
        self.own_network = inner.own_network
        self.judged = Judged()  # verdicts by recovered tree (see `recovered`)

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to a Dask worker: its verdicts by tree start afresh there.
        return {k: v for k, v in self.__dict__.items() if k != "judged"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.judged = Judged()

    @property  # type: ignore[override]
    def timeout(self) -> float:
        return self.inner.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.inner.timeout = value

    def describe(self) -> str:
        options = f" -o {self.options}" if self.options else ""
        return f"{self.inner.describe()}, on {self.type}{options} recovered by this kernel"

    def identity(self) -> str:
        return (f"{self.inner.identity()} on={self.type} mount={self.check_options} "
                f"kernel={platform.release()} fsck={self.fsck is not None}")

    def close(self) -> None:
        self.inner.close()

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        started = time.monotonic()
        with scratch_dir(scratch) as work:
            try:
                with self.mounted(directory, work) as (mnt, log, fsck):
                    key = tree_key(mnt, markers if self.uses_markers else ())
                    limit = self.limit()
                    same = self.judged.get(key, limit)
                    if same is not None:
                        return self._with_evidence(dataclasses.replace(
                            same, duration=time.monotonic() - started,
                            evidence=dataclasses.replace(same.evidence, notes={
                                **same.evidence.notes, "same_recovered_tree": True})), [],
                            fsck)
                    verdict = self.inner.check(mnt, markers, scratch=work / "check")
                    verdict = self._with_evidence(verdict, log.lines(), fsck)
                    if not _worker_died(verdict):
                        self.judged.put(key, verdict, limit)
                    return verdict
            except Refused as e:
                return self._refused(e.failure, time.monotonic() - started, e.fsck)

    @contextlib.contextmanager
    def mounted(self, directory: Path, work: Path
                ) -> Iterator[tuple[Path, KernelLog, dict[str, Any] | None]]:
        """The state's image (in `directory`) attached and mounted at `work`/mnt, with the
        kernel's log of its device and the fsck evidence; `Refused` when the kernel will not
        mount it. Unmounted and detached on leaving, whatever the block did."""
        image = Path(directory) / self.image
        mnt = work / "mnt"
        mnt.mkdir(parents=True, exist_ok=True)
        guard.hold(image=os.fspath(image))
        guard.hold(mount=os.fspath(mnt))
        device, fd = loop.attach(image)
        log = KernelLog(device.name)
        try:
            fsck = self._fsck(device.path, image, mnt, log) if self.fsck else None
            try:
                mount(device.path, mnt, self.type, self.check_options, log)
            except MountFailed as e:
                raise Refused(e, fsck) from None
            try:
                yield mnt, log, fsck
            finally:
                unmount(mnt)
        finally:
            loop.detach(device, fd)
            log.close()

    def _refused(self, e: MountFailed, duration: float,
                 fsck: dict[str, Any] | None) -> Verdict:
        said = _telling(e.kernel) or f"mount failed: {os.strerror(e.errno)}"
        notes: dict[str, Any] = {"mount": "refused", "kernel": e.kernel[-_KERNEL_LINES:]}
        if fsck is not None:
            notes["fsck"] = fsck
        signature = f"{self.type}: " + normalise(_LOOP.sub("loop", said))
        return Verdict("unrecoverable", signature=signature, log_tail="\n".join(e.kernel),
                       excerpt=said, duration=duration, evidence=Evidence(notes=notes))

    def _with_evidence(self, verdict: Verdict, kernel: list[str],
                       fsck: dict[str, Any] | None) -> Verdict:
        extra: dict[str, Any] = {}
        if kernel and verdict.failing:
            extra["kernel"] = kernel[-_KERNEL_LINES:]
        if fsck is not None:
            extra["fsck"] = fsck
        if not extra:
            return verdict
        return dataclasses.replace(verdict, evidence=dataclasses.replace(
            verdict.evidence, notes={**verdict.evidence.notes, **extra}))

    def _fsck(self, device: str, image: Path, mnt: Path, log: KernelLog) -> dict[str, Any]:
        """The file system's read-only check of the recovered image (mounted once so the
        kernel replays its journal, then unmounted): evidence, never the verdict."""
        assert self.fsck is not None
        try:
            mount(device, mnt, self.type, self.check_options, log)
        except MountFailed:
            pass  # the real mount below says so
        else:
            unmount(mnt)
        argv = self.fsck.fsck_argv(Path(device))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=FSCK_SECONDS,
                                  stdin=subprocess.DEVNULL, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"command": " ".join(argv), "error": str(e)}
        lines = (done.stdout + done.stderr).strip().splitlines()
        return {"command": " ".join(argv[:-1]), "status": done.returncode,
                "clean": done.returncode == 0, "output": lines[-10:]}


def _worker_died(verdict: Verdict) -> bool:
    """A check that broke (killed from outside, an error) is no verdict to reuse."""
    return verdict.verdict == "error" or verdict.evidence.worker_died or (
        verdict.signal == 9 and verdict.verdict != "hang")


def _telling(kernel: list[str]) -> str:
    """The kernel message that says why a mount failed: an error line, else the last."""
    for line in reversed(kernel):
        low = line.lower()
        if "error" in low or "can't" in low or "cannot" in low or "corrupt" in low \
                or "bad" in low or "invalid" in low or "failed" in low:
            return line
    return kernel[-1] if kernel else ""


def on_kernel(checker: Checker, trace: Trace, *, fsck: bool = False) -> Checker:
    """`checker` as it must judge `trace`: on the kernel's recovery of each crash image when
    the trace was recorded on a kernel file system (`record --fs`), else itself."""
    if trace.fs is None or isinstance(checker, OnImage):
        if fsck and trace.fs is None:
            raise PowercutError("--fsck checks kernel file-system traces (record --fs)")
        return checker
    problem = loop.available()
    if problem is not None:
        raise PowercutError(f"the trace was recorded on {trace.fs.get('type')}: its crash "
                            f"images are mounted by this kernel, but {problem}")
    fs_type = str(trace.fs.get("type"))
    if fs_type not in filesystems.supported():
        raise PowercutError(f"the trace was recorded on {fs_type}, which this kernel "
                            f"({platform.release()}) cannot mount")
    return OnImage(checker, trace.fs, fsck=fsck)
