"""fsync failures without a program: the fault plan, the trace field, and each model's rule.

The rule (README, "fsync failures"; `replayer/models/failure.py`): the pages
a failed fsync covered are clean, so a later fsync that succeeds does not
write them; they stay kept-or-lost until the program writes them again.
With `revert` (btrfs) they go back to the durable bytes in the file itself.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from powercut.errors import PowercutError, TraceError
from powercut.faultplan import Fault, FaultPlan, errno_of
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models import get_model
from powercut.replayer.pages import read_pages
from powercut.replayer.replay import pending_at, state_at
from powercut.replayer.tree import final_tree
from powercut.trace import Trace, TraceWriter, open_trace

PS = 4096
MODELS = ("lazyfs", "ext4-ordered", "alice")


def _trace(tmp_path: Path, ops: list[tuple[str, dict]], name: str = "f.trace",
           fault: dict | None = None) -> Trace:
    path = tmp_path / name
    with TraceWriter(path, argv=["t"], workload={}, fault=fault) as w:
        for op, fields in ops:
            w.append(op, 1, **fields)
    return open_trace(path)


def _contents(trace: Trace, model: str, point: int, path: str = "f", **kw: str) -> set[bytes]:
    """Every content `path` can have after a crash at `point`."""
    chosen = get_model(model, PS, **kw)
    out = set()
    for state in Enumeration(trace, chosen, strategy="exhaustive", points=[point]):
        entry = next((e for e in state.image.entries if e.path == path), None)
        out.add(b"<none>" if entry is None else read_pages(entry.pages, entry.size, PS))
    return out


# -- the fault plan -----------------------------------------------------------------------------

def test_fault_specs_parse_and_match() -> None:
    f = Fault.parse("fdatasync:member/wal/*@3", "ENOSPC")
    assert (f.call, f.glob, f.nth, f.errno) == ("fdatasync", "member/wal/*", 3, errno.ENOSPC)
    assert f.spec == "fdatasync:member/wal/*@3" and f.describe().endswith("ENOSPC")
    assert f.matches("fdatasync", "member/wal/0.wal") and not f.matches("fsync", "member/wal/x")
    any_sync = Fault.parse("fsync")
    assert (any_sync.glob, any_sync.nth, any_sync.errno) == ("*", 1, errno.EIO)
    assert any_sync.matches("fsync", "a/b") and any_sync.matches("fdatasync", "")
    assert not any_sync.matches("fsyncdir", "a") and not any_sync.matches("write", "a")
    assert Fault.parse("fsyncdir:@2").matches("fsyncdir", "")  # an empty glob: the root
    assert errno_of("EIO") == errno.EIO and errno_of("28") == errno.ENOSPC
    for bad in ("sync", "fsync@0", "write@-1", ""):
        with pytest.raises(PowercutError, match="--fail"):
            Fault.parse(bad)
    with pytest.raises(PowercutError, match="--errno"):
        Fault.parse("fsync", "EWHAT")


def test_the_plan_fails_the_nth_matching_call_once() -> None:
    plan = FaultPlan(Fault.parse("fsync:*.log@2"))
    answers = [plan.consult(call, path) for call, path in [
        ("fsync", "a.log"), ("fsync", "b.dat"), ("write", "a.log"), ("fdatasync", "a.log")]]
    assert answers == [None, None, None, errno.EIO]
    plan.failed(7)
    assert plan.consult("fsync", "a.log") is None and (plan.fired, plan.matched) == (7, 2)
    assert FaultPlan().consult("fsync", "a.log") is None


# -- the trace ------------------------------------------------------------------------------------

def test_a_failed_op_is_read_back_and_an_old_trace_still_reads(tmp_path: Path) -> None:
    fault = Fault.parse("fsync").header()
    trace = _trace(tmp_path, [("create", {"path": "f", "mode": 0o644}),
                              ("fsync", {"path": "f", "datasync": True, "errno": 5}),
                              ("fsync", {"path": "f", "datasync": False})], fault=fault)
    ops = list(trace.ops())
    assert (ops[1].errno, ops[1].failed, ops[2].errno, ops[2].failed) == (5, True, None, False)
    assert trace.fault == fault
    plain = _trace(tmp_path, [("create", {"path": "f", "mode": 0o644})], "old.trace")
    assert plain.fault is None and not next(plain.ops()).failed
    assert (trace.header["version"], plain.header["version"]) == (2, 1)
    # A fault's trace is version 2 (a reader of version 1 refuses it rather than replay a
    # failed write as done), its initial files included.
    with TraceWriter(tmp_path / "i.trace", argv=["t"], workload={}, fault=fault, initial=[
            {"path": "d", "kind": "dir", "mode": 0o755},
            {"path": "d/f", "kind": "file", "mode": 0o644, "data": b"initial"}]) as w:
        w.append("fsync", 1, path="d/f", datasync=False, errno=5)
    with_files = open_trace(tmp_path / "i.trace")
    assert final_tree(with_files)["d/f"] == ("file", 0o644, b"initial")


@pytest.mark.parametrize("record", [
    {"seq": 0, "t_ns": 1, "pid": 1, "op": "fsync", "path": "f", "datasync": False, "errno": 0},
    {"seq": 0, "t_ns": 1, "pid": 1, "op": "fsync", "path": "f", "datasync": False,
     "errno": "EIO"},
    {"seq": 0, "t_ns": 1, "pid": 1, "op": "write", "path": "f", "offset": 0, "data": b"x",
     "errno": 1 << 20}])
def test_a_bad_errno_is_refused(record: dict) -> None:
    from powercut.trace import op_from_record

    with pytest.raises(TraceError, match="errno"):
        op_from_record(record, 0)


# -- the models -----------------------------------------------------------------------------------

NAMED = ("fsyncdir", {"path": ""})  # the file's name durable under every model


def _ignoring(extra: list[tuple[str, dict]] | None = None) -> list[tuple[str, dict]]:
    """"a1" synced; "b2" written, its fsync failed (#5), then a later fsync succeeds (#6)."""
    return [("create", {"path": "f", "mode": 0o644}), NAMED,
            ("write", {"path": "f", "offset": 0, "data": b"a1"}),
            ("fsync", {"path": "f", "datasync": False}),
            ("write", {"path": "f", "offset": 0, "data": b"b2"}),
            ("fsync", {"path": "f", "datasync": True, "errno": 5}),
            ("fsync", {"path": "f", "datasync": True}), *(extra or [])]


REWRITE = [("write", {"path": "f", "offset": 1, "data": b"3"}),
           ("fsync", {"path": "f", "datasync": True})]


@pytest.mark.parametrize("model", MODELS)
def test_a_later_successful_fsync_does_not_write_what_a_failed_one_left(
        tmp_path: Path, model: str) -> None:
    trace = _trace(tmp_path, _ignoring())
    # After the "successful" fsync (#6) the failed page is still undecided.
    assert _contents(trace, model, 6) == {b"a1", b"b2"}
    assert [u.id for u in pending_at(trace, get_model(model, PS), 6).units] == ["f:0"]


@pytest.mark.parametrize("model", MODELS)
def test_writing_the_page_again_makes_the_next_fsync_write_it_whole(
        tmp_path: Path, model: str) -> None:
    # The program rewrites one byte of the failed page: the cache still holds "b2"'s other
    # byte (ext4, XFS), and the next fsync writes the whole page.
    trace = _trace(tmp_path, _ignoring(REWRITE))
    assert _contents(trace, model, 7) == {b"a1", b"b3"}
    assert _contents(trace, model, 8) == {b"b3"}


@pytest.mark.parametrize("model", MODELS)
def test_revert_drops_the_failed_bytes_in_the_file_as_btrfs_does(
        tmp_path: Path, model: str) -> None:
    trace = _trace(tmp_path, _ignoring(REWRITE))
    assert _contents(trace, model, 6, fsync_failure="revert") == {b"a1"}
    assert _contents(trace, model, 8, fsync_failure="revert") == {b"a3"}


@pytest.mark.parametrize("model", MODELS)
def test_a_failed_append_loses_its_bytes_but_not_the_size_a_later_sync_commits(
        tmp_path: Path, model: str) -> None:
    # An appending log: record 1 synced, record 2's fsync fails, record 3 synced. Losing
    # the failed page leaves zeros in the middle of the log: a hole, not a clean end.
    ops = [("create", {"path": "f", "mode": 0o644}), NAMED,
           ("write", {"path": "f", "offset": 0, "data": b"a" * PS}),
           ("fsync", {"path": "f", "datasync": True}),
           ("write", {"path": "f", "offset": PS, "data": b"b" * PS}),
           ("fsync", {"path": "f", "datasync": True, "errno": 5}),
           ("write", {"path": "f", "offset": 2 * PS, "data": b"c" * PS}),
           ("fsync", {"path": "f", "datasync": True})]
    trace = _trace(tmp_path, ops)
    assert _contents(trace, model, 7) == {b"a" * PS + b"b" * PS + b"c" * PS,
                                          b"a" * PS + bytes(PS) + b"c" * PS}


def test_a_failed_write_and_a_failed_directory_sync_change_nothing(tmp_path: Path) -> None:
    ops = [("create", {"path": "f", "mode": 0o644}),
           ("write", {"path": "f", "offset": 0, "data": b"ok"}),
           ("write", {"path": "f", "offset": 0, "data": b"XX", "errno": errno.ENOSPC}),
           ("fsyncdir", {"path": "", "errno": 5}),
           ("fsync", {"path": "f", "datasync": False})]
    trace = _trace(tmp_path, ops)
    for model in MODELS:
        assert _contents(trace, model, 4) - {b"<none>"} == {b"ok"}, model
    # alice: the failed fsyncdir made no name durable, so the file may be gone; ext4: it
    # committed no journal entry, so the create is still pending.
    assert b"<none>" in _contents(trace, "alice", 4)
    units = [u.id for u in pending_at(trace, get_model("ext4-ordered", PS), 3).units]
    assert "#0" in units
    with pytest.raises(PowercutError, match="--fsync-failure"):
        get_model("lazyfs", PS, fsync_failure="sometimes")
    assert state_at(trace, get_model("lazyfs", PS), 4).name.lost == ()
