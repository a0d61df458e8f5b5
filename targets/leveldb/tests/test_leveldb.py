"""The `leveldb` target: Debian's LevelDB 1.23 through plyvel, synced puts read back after a crash.

Found (docs/targets/leveldb.md): with `sync=True` on every write LazyFS's
model finds nothing. With `--sync-every 50` (the positive control, LazyFS's
LevelDB #4/#5, google/leveldb#193) a memtable switch closes the old log
unsynced, the next sync write syncs only the new log and acknowledges the
writes in the old one: the delete of key-0000 is lost.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from powercut.targets.kit import plan_writes, send_acknowledged
from powercut.targets.leveldb import TARGET
from powercut.targets.leveldb.binding import LEVELDB
from powercut.trace import open_trace
from tests.targets_cli import causes, explore, header_paths, markers, record, replayed


def test_unsynced_writes_are_acknowledged_by_the_next_sync_write_last_value_only() -> None:
    plan = plan_writes(10, sync_every=5, value_size=12)
    assert [w.sync for w in plan] == [False] * 4 + [True] + [False] * 4 + [True]
    assert plan[0].value == "value-0000.."
    marks: list[dict] = []
    assert send_acknowledged(marks.append, plan, lambda w: None) is None
    acks = [m for m in marks if not m.get("intent")]
    assert [m.get("intent") for m in marks[:5]] == [True] * 5  # no ack before the sync write
    assert [a["key"] for a in acks[:5]] == [f"key-000{i}" for i in range(5)]
    # Writes 5..9: key-0005 (the delete of key-0000), key-0006..8, an overwrite of key-0007.
    assert [(a["key"], a["value"]) for a in acks[5:]] == [
        ("key-0000", None), ("key-0006", "value-0006.."), ("key-0008", "value-0008.."),
        ("key-0007", "value-0009..")]
    marks.clear()
    send_acknowledged(marks.append, plan_writes(10, value_size=12), lambda w: None)
    assert [m.get("intent", False) for m in marks] == [True, False] * 10


@pytest.mark.fuse
@pytest.mark.leveldb
def test_synced_writes_are_clean_under_lazyfs_with_debians_leveldb(tmp_path: Path) -> None:
    linked = LEVELDB.linked()
    assert linked is not None and "plyvel" not in str(linked), linked
    real = os.path.realpath(linked)
    assert real.startswith(("/lib/", "/usr/lib/")), real
    assert os.path.basename(real).startswith("libleveldb.so.1.23"), real
    trace = record(tmp_path, "leveldb", "--writes", "20")
    header = open_trace(trace).workload
    assert (header["leveldb_version"], header["leveldb_library"]) == (
        "1.23", os.path.basename(real))
    assert not header_paths(header)
    status, doc = explore(trace)
    assert (status, causes(doc)) == (0, [])
    assert doc["summary"]["coverage"]["exhaustive"]


@pytest.mark.fuse
@pytest.mark.leveldb
def test_sync_every_50_loses_a_write_of_the_old_log(tmp_path: Path) -> None:
    """LazyFS's LevelDB #4/#5 in 1.23: the acknowledgement after the first memtable switch."""
    trace = record(tmp_path, "leveldb", "--writes", "800", "--sync-every", "50")
    ops = list(open_trace(trace).ops())
    switch = next(op.seq for op in ops if op.op == "create" and op.path == "db/000004.log")
    ack = next(op.seq for op in ops if op.seq > switch and op.op == "marker"
               and "intent" not in op.extra)
    status, doc = explore(trace, "--points", str(ack), "--budget", "40")
    assert status == 1
    assert causes(doc) == [("lost-data", "data-loss", ("db/<n>.log",),
                            f"fsync db/<n>.log before acknowledging ('{ops[ack].text}')")]
    assert doc["causes"][0]["missing"] == ["key-0000"]


@pytest.mark.fuse
@pytest.mark.leveldb
def test_a_current_naming_a_missing_manifest_is_unrecoverable(tmp_path: Path) -> None:
    trace = record(tmp_path, "leveldb", "--writes", "3")
    loaded = open_trace(trace)
    state = replayed(tmp_path, trace, loaded.op_count - 1)
    acknowledged = markers(trace)
    with TARGET.checker("leveldb", loaded, {}, timeout=10) as checker:
        assert checker.check(state, acknowledged).verdict == "ok"
        (state / "db" / "CURRENT").write_text("MANIFEST-000009\n")
        verdict = checker.check(state, acknowledged)
    assert verdict.verdict == "unrecoverable" and verdict.exit_status == 2
    assert verdict.signature == ("open failed: Corruption: CURRENT points to a non-existent "
                                 "file: NotFound: <path>: No such file or directory")
