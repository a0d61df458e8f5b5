"""Hostile traces: the reader accepts them or raises TraceError, nothing else.

Mutations of a real trace (cuts, bit flips, inserted bytes) and well-signed
traces with hostile records (wrong types, huge lengths, absolute paths,
`..`, NUL bytes) must never raise another exception, never allocate without
bound, and never yield an op whose path could escape the tree.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.errors import TraceError
from powercut.trace import TraceWriter, check_path, open_trace

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_trace(path: Path) -> bytes:
    w = TraceWriter(path, argv=["test"], workload={"name": "command"},
                    initial=[{"path": "d", "kind": "dir", "mode": 0o755}])
    w.append("create", 1, path="d/f", mode=0o644)
    w.append("write", 1, path="d/f", offset=0, data=b"x" * 5000)
    w.append("fsync", 1, path="d/f", datasync=True)
    w.append("rename", 1, src="d/f", dst="d/g", flags=0)
    w.append("marker", 1, text="ack", key="k", value="v")
    w.close()
    return path.read_bytes()


def _read_all(path: Path, allow_prefix: bool) -> None:
    """Open and stream a trace; any failure must be a TraceError."""
    trace = open_trace(path, allow_prefix=allow_prefix)
    for op in trace.ops():
        for p in op.paths:  # "" is the mount root, for fsyncdir alone
            check_path(p, root=op.op == "fsyncdir")
    for entry in trace.initial:
        check_path(entry.path)


def _signed(records: list[Any]) -> bytes:
    """A trace whose footer digest is right for `records`, so validation is reached."""
    body = b"".join(msgpack.packb(r, use_bin_type=True) for r in records)
    footer = {"kind": "end", "ops": len(records) - 1, "status": "complete",
              "digest": "sha256:" + hashlib.sha256(body).hexdigest()}
    return body + msgpack.packb(footer, use_bin_type=True)


HEADER = {"kind": "powercut-trace", "version": 1, "page_size": 4096, "argv": [],
          "workload": {}, "tool_version": "t", "started_at": 0.0, "initial": []}

# every integer msgpack can carry, and no other
ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
hostile_paths = st.one_of(
    st.sampled_from(["/etc/passwd", "../x", "a/../../x", "a//b", "./a", "", "a\0b", ".", "a/"]),
    st.text(max_size=20),
    ints, st.none(), st.binary(max_size=8),
)
hostile_values = st.one_of(
    ints, st.booleans(), st.none(),
    st.text(max_size=10), st.binary(max_size=10), st.floats(allow_nan=True),
    st.lists(ints, max_size=3),
)
ops = st.sampled_from(["create", "mkdir", "unlink", "rmdir", "fsyncdir", "rename", "link",
                       "symlink", "write", "truncate", "fallocate", "chmod", "fsync",
                       "marker", "bogus"])


@st.composite
def hostile_record(draw: st.DrawFn, seq: int) -> dict[str, Any]:
    rec: dict[str, Any] = {"seq": seq, "t_ns": 0, "pid": 1, "op": draw(ops)}
    for key in draw(st.sets(st.sampled_from(
            ["path", "src", "dst", "mode", "offset", "data", "size", "length", "flags",
             "datasync", "target", "text", "seq", "pid"]))):
        rec[key] = draw(hostile_paths) if key in ("path", "src", "dst") else draw(hostile_values)
    return rec


@SETTINGS
@given(cut=st.integers(min_value=0, max_value=10_000), allow_prefix=st.booleans())
def test_cut_anywhere_is_refused_or_a_valid_prefix(tmp_path: Path, cut: int,
                                                   allow_prefix: bool) -> None:
    blob = _valid_trace(tmp_path / "ok.trace")
    bad = tmp_path / "cut.trace"
    bad.write_bytes(blob[: cut % len(blob)])
    try:
        _read_all(bad, allow_prefix)
    except TraceError as e:
        assert str(e)
        return
    # only the valid prefix of a cut trace may be read, and only when asked for
    assert allow_prefix
    assert open_trace(bad, allow_prefix=True).status == "truncated"


@SETTINGS
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1,
                      max_size=4),
       inserts=st.lists(st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=9)),
                        max_size=2),
       allow_prefix=st.booleans())
def test_bit_flips_and_insertions_never_escape_trace_error(
        tmp_path: Path, flips: list[tuple[int, int]], inserts: list[tuple[int, bytes]],
        allow_prefix: bool) -> None:
    blob = bytearray(_valid_trace(tmp_path / "ok.trace"))
    for pos, bit in flips:
        blob[pos % len(blob)] ^= 1 << bit
    for pos, data in inserts:
        blob[pos % len(blob):pos % len(blob)] = data
    bad = tmp_path / "flipped.trace"
    bad.write_bytes(bytes(blob))
    with contextlib.suppress(TraceError):
        _read_all(bad, allow_prefix)


def test_every_single_bit_flip_before_the_footer_is_refused(tmp_path: Path) -> None:
    """The footer's digest covers every byte before it: no flip there may pass unnoticed.

    Exhaustive over a small trace (every bit of header and ops), where the
    fuzzer above only samples flips and accepts any TraceError-or-success.
    """
    w = TraceWriter(tmp_path / "ok.trace", argv=["t"], workload={"name": "command"},
                    initial=[{"path": "d", "kind": "dir", "mode": 0o755}])
    w.append("create", 1, path="d/f", mode=0o644)
    w.append("write", 1, path="d/f", offset=0, data=b"xy")
    w.append("rename", 1, src="d/f", dst="d/g", flags=0)
    w.append("marker", 1, text="ack", key="k", value="v")
    w.close()
    blob = (tmp_path / "ok.trace").read_bytes()
    footer_at = blob.rindex(b"\x84")  # the footer: a map of 4 (kind, ops, status, digest)
    assert msgpack.unpackb(blob[footer_at:])["kind"] == "end"
    open_trace(tmp_path / "ok.trace")  # the unflipped trace is accepted
    bad = tmp_path / "flipped.trace"
    accepted = []
    for pos in range(footer_at):
        for bit in range(8):
            flipped = bytearray(blob)
            flipped[pos] ^= 1 << bit
            bad.write_bytes(bytes(flipped))
            try:
                open_trace(bad)
            except TraceError:
                continue
            accepted.append((pos, bit))
    assert accepted == [], f"{len(accepted)} flips accepted, first {accepted[:5]}"


@SETTINGS
@given(data=st.data(), n=st.integers(min_value=1, max_value=4))
def test_signed_hostile_records_are_refused_or_safe(tmp_path: Path, data: st.DataObject,
                                                    n: int) -> None:
    records = [HEADER] + [data.draw(hostile_record(seq)) for seq in range(n)]
    bad = tmp_path / "hostile.trace"
    bad.write_bytes(_signed(records))
    with contextlib.suppress(TraceError):
        _read_all(bad, allow_prefix=False)


@SETTINGS
@given(header=st.dictionaries(st.sampled_from([*list(HEADER), "x"]), hostile_values,
                              max_size=9))
def test_hostile_headers_are_refused(tmp_path: Path, header: dict[str, Any]) -> None:
    bad = tmp_path / "header.trace"
    bad.write_bytes(_signed([header]))
    with pytest.raises(TraceError):
        _read_all(bad, allow_prefix=True)


@pytest.mark.parametrize("prefix", [b"\xc6", b"\xdb", b"\xdd", b"\xdf"])
def test_huge_length_prefixes_do_not_allocate(tmp_path: Path, prefix: bytes) -> None:
    # bin32 / str32 / array32 / map32 claiming 4 GiB, right after a valid header
    bad = tmp_path / "huge.trace"
    bad.write_bytes(msgpack.packb(HEADER) + prefix + b"\xff\xff\xff\xf0" + b"\0" * 16)
    with pytest.raises(TraceError, match="cut short"):
        open_trace(bad)


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../../up", "a\0b", "a//b", "."])
def test_hostile_paths_in_a_signed_trace_are_refused(tmp_path: Path, path: str) -> None:
    bad = tmp_path / "path.trace"
    bad.write_bytes(_signed([HEADER, {"seq": 0, "t_ns": 0, "pid": 1, "op": "create",
                                      "path": path, "mode": 0o644}]))
    with pytest.raises(TraceError, match=r"not a relative path|component"):
        open_trace(bad, allow_prefix=False)


def test_an_altered_trace_is_refused_even_as_prefix(tmp_path: Path) -> None:
    blob = bytearray(_valid_trace(tmp_path / "ok.trace"))
    blob[blob.index(b"x" * 10) + 3] = ord("y")
    bad = tmp_path / "altered.trace"
    bad.write_bytes(bytes(blob))
    with pytest.raises(TraceError, match="altered"):
        open_trace(bad, allow_prefix=True)
