"""Trace format version 2: large initial files in sparse, compressed chunks, and a writer
that never writes what its reader refuses.

A file-system image is the initial tree of a kernel file-system trace: it
must cost its allocated, non-zero pages (compressed), never its apparent
size, and never sit in memory whole. Version 1 traces (every committed
trace) still read, and a trace without a large initial file is still
written as version 1.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.errors import TraceError
from powercut.replayer.tree import Tree, final_tree
from powercut.trace import TraceWriter, initial_tree, open_trace
from powercut.trace.limits import MAX_STR_BYTES
from powercut.trace.writer import CHUNK_BYTES
from tests.realparts import TRACES

MiB = 1 << 20


def sparse_image(path: Path, size: int, runs: dict[int, bytes]) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in runs.items():
            os.pwrite(f.fileno(), data, offset)


def record(path: Path, backing: Path) -> None:
    w = TraceWriter(path, argv=["test"], workload={"name": "command"},
                    initial=initial_tree(backing))
    w.append("write", 1, path="disk.img", offset=8192, data=b"w" * 4096)
    w.append("fsync", 1, path="disk.img", datasync=False)
    w.close()


def test_a_sparse_256_mib_image_costs_its_data_not_its_size(tmp_path: Path) -> None:
    backing = tmp_path / "back"
    backing.mkdir()
    runs = {0: b"superblock" * 100, 7 * MiB + 5: os.urandom(3 * 4096),
            200 * MiB: bytes(4096) + b"after a zero page", 256 * MiB - 10: b"tail-bytes"}
    sparse_image(backing / "disk.img", 256 * MiB, runs)
    (backing / "small").write_bytes(b"small file")
    trace_path = tmp_path / "t.trace"
    record(trace_path, backing)
    assert trace_path.stat().st_size < 64 * 1024  # 256 MiB apparent, a few pages stored
    trace = open_trace(trace_path)
    assert trace.version == 2 and trace.chunks >= 4
    sizes = {e.path: e.size for e in trace.initial}
    assert sizes == {"disk.img": 256 * MiB, "small": 10}
    tree = Tree.of_trace(trace)
    image = tree.file("disk.img", "test")
    assert image.size == 256 * MiB
    assert image.data is not None
    for offset, data in runs.items():
        assert image.data.read(offset + len(data))[offset:] == data
    # The all-zero page inside the third run is a hole, not a stored page.
    assert 200 * MiB // 4096 not in image.data.indices()
    final = final_tree(trace)
    assert final["disk.img"][2][8192:12288] == b"w" * 4096
    assert final["small"][2] == b"small file"


def test_a_trace_without_a_large_file_is_still_version_1(tmp_path: Path) -> None:
    backing = tmp_path / "back"
    backing.mkdir()
    (backing / "f").write_bytes(b"x" * 1000)
    w = TraceWriter(tmp_path / "t.trace", argv=[], workload={}, initial=initial_tree(backing))
    w.close()
    trace = open_trace(tmp_path / "t.trace")
    assert trace.version == 1 and trace.initial[0].data == b"x" * 1000


@pytest.mark.parametrize("name", ["etcd-3.5-bootstrap.trace", "git.trace"])
def test_committed_version_1_traces_still_read(name: str) -> None:
    trace = open_trace(TRACES / name)
    assert trace.version == 1
    assert sum(1 for _ in trace.ops()) == trace.op_count
    Tree.of_trace(trace)


def test_a_header_too_large_for_the_reader_is_refused_at_record_time(tmp_path: Path) -> None:
    # Before version 2, a 320 MiB image inline in the header made a trace whose own
    # reader refused it ("not a powercut trace"). A header that cannot be read is
    # refused before the trace file is made.
    many = [{"path": f"d{i}", "kind": "dir", "mode": 0o755} for i in range((1 << 20) + 1)]
    with pytest.raises(TraceError, match="more than the 1048576"):
        TraceWriter(tmp_path / "t.trace", argv=[], workload={}, initial=many)
    assert not (tmp_path / "t.trace").exists()


def test_an_op_past_the_limits_is_refused_and_the_prefix_stays_readable(tmp_path: Path) -> None:
    w = TraceWriter(tmp_path / "t.trace", argv=[], workload={})
    w.append("marker", 1, text="fine")
    with pytest.raises(TraceError, match=f"more than the {MAX_STR_BYTES}"):
        w.append("marker", 1, text="x" * (MAX_STR_BYTES + 1))
    with pytest.raises(OSError):
        w.append("marker", 1, text="after a refused record")
    w.close("interrupted")
    trace = open_trace(tmp_path / "t.trace", allow_prefix=True)
    assert [op.text for op in trace.ops()] == ["fine"]


def test_a_large_initial_file_is_read_in_chunks_never_whole(tmp_path: Path) -> None:
    backing = tmp_path / "back"
    backing.mkdir()
    data = os.urandom(CHUNK_BYTES * 2 + 4096)  # incompressible: stored raw
    (backing / "big").write_bytes(data)
    record_path = tmp_path / "t.trace"
    w = TraceWriter(record_path, argv=[], workload={}, initial=initial_tree(backing))
    w.close()
    trace = open_trace(record_path)
    pieces = list(trace.initial_chunks())
    assert len(pieces) == 3 and max(len(p[2]) for p in pieces) <= CHUNK_BYTES
    assert b"".join(p[2] for p in pieces) == data


# ---------------------------------------------------------------- hostile chunks


def _signed(records: list[Any]) -> bytes:
    body = b"".join(msgpack.packb(r, use_bin_type=True) for r in records)
    ops = sum(1 for r in records if "op" in r)
    footer = {"kind": "end", "ops": ops, "status": "complete",
              "digest": "sha256:" + hashlib.sha256(body).hexdigest()}
    return body + msgpack.packb(footer, use_bin_type=True)


HEADER = {"kind": "powercut-trace", "version": 2, "page_size": 4096, "argv": [],
          "workload": {}, "tool_version": "t", "started_at": 0.0,
          "initial": [{"path": "img", "kind": "file", "mode": 0o644, "size": 1 << 20}]}


def chunk(offset: int = 0, data: bytes = b"abc", **over: Any) -> dict[str, Any]:
    return {"kind": "chunk", "path": "img", "offset": offset, "length": len(data),
            "codec": "raw", "data": data, **over}


BOMB = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in about 64 KB


@pytest.mark.parametrize(("records", "message"), [
    ([chunk(path="other")], "not a file of the initial tree"),
    ([chunk(offset=(1 << 20) - 1)], "ends past the file's size"),
    ([chunk(0, b"x" * 10), chunk(5)], "overlaps an earlier chunk"),
    ([chunk(codec="lz4")], "codec"),
    ([chunk(length=4)], "declared"),
    ([chunk(codec="zlib", data=BOMB, length=4096)], "decodes to other than"),
    ([chunk(codec="zlib", data=b"not zlib")], "cannot be decoded"),
    ([chunk(length=(64 << 20))], "length"),
    ([{"seq": 0, "t_ns": 0, "pid": 1, "op": "fsync", "path": "img", "datasync": False},
      chunk()], "chunks come before the first operation"),
])
def test_hostile_chunks_are_refused(tmp_path: Path, records: list[dict[str, Any]],
                                    message: str) -> None:
    path = tmp_path / "t.trace"
    path.write_bytes(_signed([HEADER, *records]))
    with pytest.raises(TraceError, match=message):
        open_trace(path)


def test_a_version_2_header_must_not_inline_file_data(tmp_path: Path) -> None:
    header = {**HEADER, "initial": [{"path": "img", "kind": "file", "mode": 0o644,
                                     "size": 3, "data": b"abc"}]}
    path = tmp_path / "t.trace"
    path.write_bytes(_signed([header]))
    with pytest.raises(TraceError, match="bytes in chunks"):
        open_trace(path)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=st.dictionaries(st.integers(0, (3 << 20) // 512).map(lambda n: n * 512),
                            st.binary(min_size=1, max_size=9000), max_size=6))
def test_chunks_give_back_every_byte_of_any_sparse_file(tmp_path: Path,
                                                        runs: dict[int, bytes]) -> None:
    """Law: reading a version 2 trace's initial file gives exactly the file's bytes."""
    backing = tmp_path / "b"
    backing.mkdir(exist_ok=True)
    image = backing / "img"
    image.unlink(missing_ok=True)
    sparse_image(image, 4 << 20, runs)
    expected = image.read_bytes()
    path = tmp_path / "t.trace"
    TraceWriter(path, argv=[], workload={}, initial=initial_tree(backing)).close()
    tree = Tree.of_trace(open_trace(path))
    node = tree.file("img", "test")
    assert node.data is not None and node.size == len(expected)
    assert node.data.read(node.size) == expected
