"""`Markers`, how a workload reports acknowledgements: in the recorder's own process
straight to the recording file system, anywhere else through the control file.

In-process markers must be the same `marker` ops, in the same order against
file operations, as lines written through `<mnt>/.powercut/marker`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from powercut.recorder.record import record
from powercut.recorder.workload import Markers, WorkloadResult
from powercut.trace import open_trace


@dataclass(frozen=True)
class InProcess:
    """A workload in the recorder's own process, as `etcd-writes` is: its `Markers`
    report straight to the recording file system, a program's lines go to the file."""

    name: str = "in-process"

    def header(self) -> dict[str, Any]:
        return {"name": self.name}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        with Markers(mnt) as markers:
            assert markers.direct
            fd = os.open(mnt / "a", os.O_WRONLY | os.O_CREAT, 0o644)
            markers.write({"key": "a", "value": "one", "intent": True})
            os.write(fd, b"one")
            os.fsync(fd)
            markers.write({"key": "a", "value": "one", "size": 3, "text": "acked"})
            with open(mnt / ".powercut" / "marker", "a") as through_the_mount:
                through_the_mount.write('{"key": "b"}\n')
            markers.write({"key": "c"})
            os.write(fd, b"two")
            os.close(fd)
        return WorkloadResult(True, "done")


@pytest.mark.fuse
def test_markers_of_a_workload_in_process_skip_the_mount_in_the_same_order(
        tmp_path: Path) -> None:
    result = record(tmp_path / "t.trace", InProcess(), timeout=60)
    assert result.status == "complete", result.detail
    ops = list(open_trace(tmp_path / "t.trace").ops())
    assert [(op.op, op.text if op.op == "marker" else op.path, op.pid) for op in ops] == [
        ("create", "a", os.getpid()),
        ("marker", '{"key": "a", "value": "one", "intent": true}', os.getpid()),
        ("write", "a", os.getpid()), ("fsync", "a", os.getpid()),
        ("marker", "acked", os.getpid()), ("marker", '{"key": "b"}', os.getpid()),
        ("marker", '{"key": "c"}', os.getpid()), ("write", "a", os.getpid())]
    assert ops[4].extra == {"key": "a", "value": "one", "marker_size": 3}  # as through the file


def test_markers_on_a_plain_directory_go_to_its_file(tmp_path: Path) -> None:
    (tmp_path / ".powercut").mkdir()
    (tmp_path / ".powercut" / "marker").touch()
    with Markers(tmp_path) as markers:
        assert not markers.direct
        markers.write({"key": "k"})
    assert (tmp_path / ".powercut" / "marker").read_text() == '{"key": "k"}\n'
