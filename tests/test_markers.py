"""Markers: lines written to `<mnt>/.powercut/marker` become `marker` ops, in order.

The control directory is virtual: it never reaches the backing directory nor
the trace's file tree, and nothing can be made in or over it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from powercut.recorder.markers import MAX_LINE, MarkerLines, marker_fields
from powercut.recorder.record import record
from powercut.recorder.workload import Command
from powercut.replayer.tree import final_tree
from powercut.trace import TraceWriter, open_trace

PROGRAM = r'''
import errno, json, os, sys
mnt = sys.argv[1]
marker = os.path.join(mnt, ".powercut", "marker")
assert ".powercut" not in os.listdir(mnt)
assert os.listdir(os.path.join(mnt, ".powercut")) == ["marker"]
fd = os.open(os.path.join(mnt, "a"), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"one")
with open(marker, "a") as m:
    m.write(json.dumps({"key": "a", "value": "one", "size": 3}) + "\n")
os.fsync(fd)
with open(marker, "a") as m:
    m.write("plain ack")  # no newline: still one marker, on close
os.write(fd, b"two")
os.close(fd)
for make in (lambda: os.mkdir(os.path.join(mnt, ".powercut", "x")),
             lambda: open(os.path.join(mnt, ".powercut", "y"), "w"),
             lambda: os.rename(os.path.join(mnt, "a"), os.path.join(mnt, ".powercut")),
             lambda: os.rmdir(os.path.join(mnt, ".powercut"))):
    try:
        make()
    except OSError as e:
        assert e.errno in (errno.EPERM, errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR), e
    else:
        sys.exit("made something in or over .powercut")
with open(marker, "w") as m:  # O_TRUNC is fine too
    m.write("first\nsecond\n")
'''


def test_text_and_json_lines() -> None:
    assert marker_fields(b"put k acknowledged\n") == {"text": "put k acknowledged"}
    assert marker_fields(b'{"key": "k", "value": null, "deleted": true}\n') == {
        "key": "k", "value": None, "deleted": True,
        "text": '{"key": "k", "value": null, "deleted": true}'}
    assert marker_fields(b'{"text": "ack", "path": "x", "seq": 1}') == {
        "text": "ack", "marker_path": "x", "marker_seq": 1}
    assert marker_fields(b"[1, 2]") == {"text": "[1, 2]"}


def test_the_longest_invalid_utf8_line_still_reads_back(tmp_path: Path) -> None:
    lines = MarkerLines()
    cut = lines.feed(b"\xff" * (MAX_LINE * 3)) + lines.rest()  # invalid UTF-8: grows 3x
    assert len(cut) == 3 and all(len(line) <= MAX_LINE for line in cut)
    with TraceWriter(tmp_path / "t.trace", argv=["t"], workload={"name": "command"}) as w:
        for line in cut:
            w.append("marker", 1, **marker_fields(line))
    markers = list(open_trace(tmp_path / "t.trace").ops())
    assert [len(m.text or "") for m in markers] == [len(line) for line in cut]


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_lines_survive_any_write_split(chunks: list[bytes]) -> None:
    lines = MarkerLines()
    out = [line for chunk in chunks for line in lines.feed(chunk)] + lines.rest()
    whole = b"".join(chunks)
    tail = whole[whole.rfind(b"\n") + 1:]  # an unterminated last line
    kept = whole if tail.strip() else whole[:len(whole) - len(tail)]
    assert b"".join(out) == kept
    assert all(line.endswith(b"\n") for line in out[:-1])


@pytest.mark.fuse
def test_markers_in_order_and_control_dir_virtual(tmp_path: Path) -> None:
    (tmp_path / "program.py").write_text(PROGRAM)
    backing = tmp_path / "backing"
    trace_path = tmp_path / "t.trace"
    result = record(trace_path, Command((sys.executable, str(tmp_path / "program.py"), "{mnt}")),
                    backing=backing, timeout=60)
    assert result.status == "complete", result.detail
    trace = open_trace(trace_path)
    ops = [(op.op, op.text if op.op == "marker" else op.path) for op in trace.ops()]
    assert ops == [("create", "a"), ("write", "a"),
                   ("marker", '{"key": "a", "value": "one", "size": 3}'),
                   ("fsync", "a"), ("marker", "plain ack"), ("write", "a"),
                   ("marker", "first"), ("marker", "second")]
    first = next(op for op in trace.ops() if op.op == "marker")
    assert first.extra == {"key": "a", "value": "one", "marker_size": 3}
    assert sorted(p.name for p in backing.iterdir()) == ["a"]
    assert set(final_tree(trace)) == {"a"}
