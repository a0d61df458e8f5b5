"""Traces cut short or altered are refused with a clear message; `--prefix` reads a cut one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from powercut.errors import TraceError
from powercut.trace import open_trace
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
