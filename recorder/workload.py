"""What the recorder runs on its mount: the `Workload` protocol and the generic `command` workload.

A workload starts its program (a `powercut.process.Child`: own process
group, output to a log file, never an unread pipe), waits for it to reach
its goal or fail, and in `finally` kills the whole group, whatever
happened. `header()` is the trace header's `workload` map: enough for a
checker to start the same program on a crash state. A workload may also
have `prepare(backing)`: it runs on the backing directory before the
mount, and what it leaves there is the trace's initial tree, durable in
every crash state (a repository made before recording, say). Workloads for known
programs live with their targets (`powercut.targets`); `Markers` lets any
of them report acknowledgements through the mount's control file.

Nothing here touches the trace: the recorder owns it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from powercut.errors import WorkloadError
from powercut.process import Child, last_lines
from powercut.recorder.markers import CONTROL_DIR, MARKER_FILE
from powercut.recorder.mount import served_here

GRACE_SECONDS = 5.0
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class WorkloadResult:
    """How a workload ended: reached its goal or not, and why.

    `exited` says, when the workload stopped short, whether the program under
    test had exited (or crashed) by then, as opposed to answering a request
    with an error (None: not known). A fault sweep reports it as the
    program's reaction to a failed call.
    """

    ok: bool
    detail: str
    exited: bool | None = None


class Workload(Protocol):
    name: str

    def header(self) -> dict[str, Any]: ...

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult: ...


def prepare(workload: Workload, backing: Path) -> None:
    """Run the workload's `prepare(backing)`, if it has one (before the mount)."""
    hook = getattr(workload, "prepare", None)
    if callable(hook):
        hook(backing)


def marker_file(mnt: Path) -> Path:
    """The file a workload's program writes its markers to: the mount's control file, or on
    a kernel file system (`record --fs`) the recording mount's, which $POWERCUT_MARKER names."""
    named = os.environ.get("POWERCUT_MARKER")
    return Path(named) if named else mnt / CONTROL_DIR / MARKER_FILE


def start(argv: list[str], log: Path, env: Mapping[str, str] | None = None, **kw: Any) -> Child:
    """Start a workload's program (its own process group, output to `log`)."""
    try:
        return Child(argv, log, env=env, append=True, **kw)
    except OSError as e:
        raise WorkloadError(f"cannot start {argv[0]}: {e.strerror}") from None


class Markers:
    """Appends markers (one JSON object a line) to the control file of the mount at `mnt`.

    When this process serves that mount (a workload run by `record`), the
    lines go straight to its file system instead: the same marker ops in the
    same order, without a FUSE round trip each (two per acknowledged write
    otherwise, as many as the program's own writes and fsyncs). Anywhere
    else (a plain directory, another process's mount) they go to the file.

    Write a marker only once the acknowledgement has been seen: late is
    sound, early is not.
    """

    def __init__(self, mnt: Path) -> None:
        self._report: Callable[[bytes], None] | None = getattr(
            served_here(mnt), "report_markers", None)
        self._fd = -1
        if self._report is None:
            self._fd = os.open(marker_file(mnt), os.O_WRONLY | os.O_APPEND)

    @property
    def direct(self) -> bool:
        """True when the markers go straight to this process's recording file system."""
        return self._report is not None

    def write(self, fields: Mapping[str, Any]) -> None:
        line = (json.dumps(dict(fields)) + "\n").encode()
        if self._report is not None:
            self._report(line)
        else:
            os.write(self._fd, line)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Markers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Command:
    """Any command; `{mnt}` in its arguments becomes the mount's path, `{marker}` the
    marker file's (also in $POWERCUT_MARKER)."""

    argv: tuple[str, ...]
    name: str = "command"

    def __post_init__(self) -> None:
        if not self.argv:
            raise WorkloadError("the command workload needs a command after --")
        if not any("{mnt}" in arg for arg in self.argv):
            raise WorkloadError("the command must name the mount with {mnt} in its arguments")

    def header(self) -> dict[str, Any]:
        return {"name": self.name, "argv": list(self.argv)}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        log = workdir / "command.log"
        marker = str(marker_file(mnt))
        child = start([arg.replace("{mnt}", str(mnt)).replace("{marker}", marker)
                       for arg in self.argv], log)
        try:
            exit = child.wait(timeout)
            if exit is None:
                return WorkloadResult(False, f"command still running after {timeout:g}s")
            if exit.status != 0:
                how = f"exited with status {exit.status}" if exit.signal is None else exit.describe
                return WorkloadResult(False, f"command {how}: {last_lines(log)}", exited=True)
            said = last_lines(log)
            return WorkloadResult(True, "command exited with status 0"
                                  + (f": {said}" if said else ""), exited=False)
        finally:
            child.kill(grace=0.5 if child.returncode is None else 0)
