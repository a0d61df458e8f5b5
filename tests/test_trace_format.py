"""The trace contract on read: what a reader refuses and what it accepts.

Traces cut short or altered are refused with a clear message; `--prefix`
reads a cut one. The mount root is a path (`""`) for `fsyncdir` alone, and
`fsyncdir`'s `datasync` is optional (traces written before it stay valid).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from powercut.errors import TraceError
from powercut.trace import TraceWriter, open_trace
from tests.realparts import REPO, TRACES

TRACE = TRACES / "etcd-3.5-bootstrap.trace"


def record_ends(path: Path) -> list[int]:
    """Byte offset where each record (header, ops, footer) ends."""
    ends = []
    with open(path, "rb") as f:
        unpacker = msgpack.Unpacker(f, raw=False)
        for _ in unpacker:
            ends.append(unpacker.tell())
    return ends


def show(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", "show", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def test_trace_cut_short_is_refused_and_its_prefix_readable(tmp_path: Path) -> None:
    ends = record_ends(TRACE)
    cut = tmp_path / "cut.trace"
    cut.write_bytes(TRACE.read_bytes()[: ends[10] + 5])  # 10 ops and a piece of the 11th
    with pytest.raises(TraceError, match=r"cut short after 10 operations.*--prefix"):
        open_trace(cut)
    prefix = open_trace(cut, allow_prefix=True)
    assert prefix.status == "truncated" and prefix.op_count == 10
    assert [op.seq for op in prefix.ops()] == list(range(10))
    refused = show(str(cut))
    assert refused.returncode == 2 and "cut short" in refused.stderr
    assert "Traceback" not in refused.stderr
    shown = show(str(cut), "--prefix")
    assert shown.returncode == 0 and "truncated" in shown.stdout
    assert "data.etcd/member/snap/db" in shown.stdout


def test_trace_without_footer_is_cut_short(tmp_path: Path) -> None:
    ends = record_ends(TRACE)
    cut = tmp_path / "nofooter.trace"
    cut.write_bytes(TRACE.read_bytes()[: ends[-2]])
    with pytest.raises(TraceError, match="no footer"):
        open_trace(cut)
    assert open_trace(cut, allow_prefix=True).op_count == len(ends) - 2


def test_flipped_byte_is_refused_as_altered(tmp_path: Path) -> None:
    trace = open_trace(TRACE)
    db_write = next(op for op in trace.ops() if op.op == "write" and len(op.data or b"") == 16384)
    end = record_ends(TRACE)[db_write.seq + 1]  # record 0 is the header
    blob = bytearray(TRACE.read_bytes())
    blob[end - 100] ^= 0x01  # inside the 16 KiB of data: still decodes, digest differs
    altered = tmp_path / "altered.trace"
    altered.write_bytes(bytes(blob))
    for allow_prefix in (False, True):
        with pytest.raises(TraceError, match="altered"):
            open_trace(altered, allow_prefix=allow_prefix)
    refused = show(str(altered))
    assert refused.returncode == 2 and "altered" in refused.stderr


# --------------------------------------------------------------------------- the fsyncdir contract

def signed_trace(path: Path, *ops: dict[str, object]) -> Path:
    """A trace with a right footer holding `ops` as written (seq, t_ns and pid added)."""
    header = {"kind": "powercut-trace", "version": 1, "page_size": 4096, "argv": [],
              "workload": {}, "tool_version": "t", "started_at": 0.0,
              "initial": [{"path": "d", "kind": "dir", "mode": 0o755}]}
    records = [header] + [{"seq": i, "t_ns": 0, "pid": 1, **op} for i, op in enumerate(ops)]
    body = b"".join(msgpack.packb(r, use_bin_type=True) for r in records)
    footer = {"kind": "end", "ops": len(ops), "status": "complete",
              "digest": "sha256:" + hashlib.sha256(body).hexdigest()}
    path.write_bytes(body + msgpack.packb(footer, use_bin_type=True))
    return path


def test_fsyncdir_names_the_root_by_the_empty_path_and_may_say_datasync(tmp_path: Path) -> None:
    trace = open_trace(signed_trace(
        tmp_path / "t.trace",
        {"op": "fsyncdir", "path": ""},  # a trace written before `datasync` existed
        {"op": "fsyncdir", "path": "", "datasync": True},
        {"op": "fsyncdir", "path": "d", "datasync": False}))
    assert [(op.path, op.datasync) for op in trace.ops()] == [
        ("", None), ("", True), ("d", False)]
    assert all(not op.extra for op in trace.ops())


@pytest.mark.parametrize("op", [
    {"op": "fsync", "path": "", "datasync": False},
    {"op": "create", "path": "", "mode": 0o644},
    {"op": "mkdir", "path": "", "mode": 0o755},
    {"op": "rmdir", "path": ""},
    {"op": "unlink", "path": ""},
    {"op": "write", "path": "", "offset": 0, "data": b"x"},
    {"op": "truncate", "path": "", "size": 0},
    {"op": "chmod", "path": "", "mode": 0o700},
    {"op": "symlink", "path": "", "target": "d"},
    {"op": "rename", "src": "", "dst": "e", "flags": 0},
    {"op": "rename", "src": "d", "dst": "", "flags": 0},
    {"op": "link", "src": "d", "dst": ""},
])
def test_the_empty_path_is_refused_for_every_other_op(tmp_path: Path,
                                                       op: dict[str, object]) -> None:
    with pytest.raises(TraceError, match="is not a relative path"):
        open_trace(signed_trace(tmp_path / "t.trace", op))


@pytest.mark.parametrize("datasync", [1, 0, "yes", None, b""])
def test_fsyncdir_datasync_must_be_a_bool(tmp_path: Path, datasync: object) -> None:
    with pytest.raises(TraceError, match="'datasync' is of the wrong type"):
        open_trace(signed_trace(tmp_path / "t.trace",
                                {"op": "fsyncdir", "path": "d", "datasync": datasync}))


@pytest.mark.parametrize("path", ["/", "/d", "..", "d/..", "./d", "d/", "a\0b"])
def test_fsyncdir_paths_are_checked_like_every_other(tmp_path: Path, path: str) -> None:
    with pytest.raises(TraceError, match=r"relative path|'\.\.' component"):
        open_trace(signed_trace(tmp_path / "t.trace", {"op": "fsyncdir", "path": path}))


def test_writer_records_fsyncdir_of_the_root(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.trace", argv=[], workload={}) as writer:
        writer.append("fsyncdir", 7, path="", datasync=True)
    (op,) = open_trace(tmp_path / "t.trace").ops()
    assert (op.op, op.path, op.datasync, op.pid) == ("fsyncdir", "", True, 7)
