"""Record one workload into a trace: the library behind `powercut record`.

`record(output, workload)` makes a backing directory and a mountpoint (temp
ones unless given), lets the workload prepare the backing directory (its
`prepare` hook, if any), writes the trace header with the backing tree as
`initial`, mounts the recording file system, runs the workload, and then,
whatever happened, stops the workload, unmounts, writes the footer
(`complete`, `workload-failed`, or `interrupted` on Ctrl-C) and removes its
temp directories. Operations recorded before an interruption are kept.

It must never delete anything through a mount: temp directories are removed
only once the mountpoint is no longer mounted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from powercut import guard
from powercut.errors import MountError, TraceError, WorkloadError
from powercut.faultplan import Fault, FaultPlan
from powercut.process import log_text
from powercut.recorder import kernel
from powercut.recorder.fs import RecorderFS
from powercut.recorder.kernel import OnKernel
from powercut.recorder.mount import (
    also_serving,
    check_mountpoint,
    is_mounted,
    mounted,
    removal_hint,
)
from powercut.recorder.umount import remove_stale_mount
from powercut.recorder.workload import Workload, prepare
from powercut.trace import Status, TraceWriter, initial_tree

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class RecordResult:
    """What a recording produced."""

    path: Path
    status: Status
    ops: int
    bytes_written: int
    seconds: float
    detail: str
    failed: int | None = None  # with a fault: the seq of the call it failed (None: never)
    matched: int = 0  # with a fault: the calls that matched it (the N-th is failed)
    exited: bool | None = None  # the program had exited when the workload stopped (Outcome)
    said: tuple[str, ...] = ()  # with a fault that fired: log lines naming its error

    def summary(self) -> str:
        return (f"{self.path}: {self.status}, {self.ops} ops, "
                f"{self.bytes_written} bytes written, {self.seconds:.1f}s")


# SIGTERM and SIGHUP end a recording as Ctrl-C does: the default action would
# kill the recorder before it unmounts and leave a stale mount.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _interrupt_once() -> Iterator[None]:
    """Ctrl-C (or SIGTERM, SIGHUP) raises KeyboardInterrupt once; later ones are ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_sigint) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_output(output: Path, *dirs: Path) -> None:
    if not output.parent.is_dir():
        raise TraceError(f"cannot write trace {output}: {output.parent} is not a directory")
    for d in dirs:
        if output.resolve().is_relative_to(d.resolve()):
            raise TraceError(f"the trace {output} must not be inside {d}")


def record(output: Path | str, workload: Workload, *, timeout: float = DEFAULT_TIMEOUT,
           backing: Path | str | None = None, mountpoint: Path | str | None = None,
           argv: list[str] | None = None, on_kernel: OnKernel | None = None,
           fault: Fault | None = None) -> RecordResult:
    """Run `workload` on a recording mount and write its trace to `output`.

    `backing` (kept afterwards; its contents become the trace's initial
    tree) and `mountpoint` default to fresh temp directories. With
    `on_kernel`, the workload runs on that kernel file system, in an image
    on the recording mount (see `kernel`). `fault` fails one call (see
    `faults`; the header's `fault` names it): with `on_kernel`, one of the
    image's writes or flushes. Raises KeyboardInterrupt after writing an
    `interrupted` trace on Ctrl-C.
    """
    output = Path(output)
    started = time.monotonic()
    if on_kernel is not None:
        on_kernel.check()
    workdir = Path(tempfile.mkdtemp(prefix="powercut-record-"))
    guard.hold(remove=str(workdir))
    mnt = Path(mountpoint) if mountpoint is not None else workdir / "mnt"
    try:
        with _interrupt_once():
            back = Path(backing) if backing is not None else workdir / "backing"
            back.mkdir(parents=True, exist_ok=True)
            if mountpoint is not None:
                remove_stale_mount(mnt)  # a killed recorder's mount on the same path
            if mountpoint is None:
                mnt.mkdir()
            check_mountpoint(mnt)  # before the trace exists: a bad mountpoint writes nothing
            _check_output(output, back, mnt)
            if on_kernel is None:
                prepare(workload, back)  # its files are the initial tree, not recorded ops
            else:
                image = kernel.make(on_kernel, back, workdir)
                kernel.prepare_on_image(lambda root: prepare(workload, root), image, workdir,
                                        on_kernel)
            try:
                writer = TraceWriter(output, argv=list(sys.argv if argv is None else argv),
                                     workload=workload.header(), initial=initial_tree(back),
                                     fs=on_kernel.header() if on_kernel else None,
                                     fault=fault.header() if fault is not None else None)
            except OSError as e:
                raise TraceError(f"cannot write trace {output}: {e.strerror}") from None
            fs = RecorderFS(back, writer)
            fs.faults = FaultPlan(fault)
            status: Status = "interrupted"
            try:
                guard.hold(fuse=str(mnt))
                with mounted(fs, mnt), kernel.marker_env(mnt), _run_at(
                        mnt, workdir, on_kernel) as where:
                    try:
                        result = workload.run(where, workdir, timeout)
                    except WorkloadError:
                        status = "workload-failed"  # it could not even start
                        raise
                status = "complete" if result.ok else "workload-failed"
                detail, exited = result.detail, result.exited
            finally:
                if fs.trace_failure is not None:
                    status = "interrupted"
                with contextlib.suppress(OSError):
                    writer.close(status)
        said = _lines_naming(workdir, fault) if fs.faults.fired is not None else ()
    finally:
        _remove_workdir(workdir, mnt)
    if writer.failed is not None:
        cause, fix = {
            errno.ENOSPC: ("the disk is full", "free space and record again"),
            errno.EDQUOT: ("the disk quota is exhausted", "free space and record again"),
            errno.EFBIG: ("the trace reached the file size limit",
                          "raise `ulimit -f` and record again"),
        }.get(writer.failed.errno or 0, (f"writing it failed ({writer.failed.strerror})",
                                         "record again"))
        raise TraceError(f"{output}: {cause}; the {writer.ops} ops recorded before are kept, "
                         f"read them with --prefix ({fix})")
    if fs.trace_failure is not None:
        raise TraceError(f"writing {output} failed ({fs.trace_failure}); "
                         f"the {writer.ops} ops before it are kept, marked interrupted")
    if fs.errors:
        detail += f"; recorder errors: {'; '.join(fs.errors)}"
    return RecordResult(output, status, writer.ops, fs.bytes_written,
                        time.monotonic() - started, detail, fs.faults.fired, fs.faults.matched,
                        exited, said)


SAID_LINES = 8


def _lines_naming(workdir: Path, fault: Fault | None) -> tuple[str, ...]:
    """What the workload's programs logged about the failed call: the lines of the logs in
    its work dir that name the fault's error ("Input/output error", any case), first ones."""
    if fault is None:
        return ()
    error = os.strerror(fault.errno).lower()
    found: list[str] = []
    for log in sorted(workdir.glob("*.log")):
        for line in log_text(log).splitlines():
            if error in line.lower() and len(found) < SAID_LINES:
                found.append(line.strip()[:400])
    return tuple(found)


@contextlib.contextmanager
def _run_at(mnt: Path, workdir: Path, on_kernel: OnKernel | None) -> Iterator[Path]:
    """Where the workload runs: the recording mount, or the kernel file system mounted from
    the image on it (unmounted and detached before the recording mount goes)."""
    if on_kernel is None:
        yield mnt
        return
    with kernel.mounted_image(mnt / kernel.IMAGE, workdir / "fs", on_kernel) as root, \
            also_serving(root):
        yield root


def _remove_workdir(workdir: Path, mnt: Path) -> None:
    if mnt.is_relative_to(workdir) and is_mounted(mnt):
        # Never rmtree through a live mount: it would delete the backing files.
        # (A mountpoint of the caller's, outside the work dir, is not ours to judge.)
        raise MountError(f"{mnt} is still mounted; {removal_hint(mnt)}, then remove {workdir}")
    shutil.rmtree(workdir, ignore_errors=True)

