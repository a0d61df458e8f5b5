"""The `rocksdb` target, held to what RocksDB documents for `WriteOptions.sync`.

RocksDB's `include/rocksdb/options.h` (and its wiki's Basic Operations): a
write with `sync=true` is flushed from the operating system's buffer cache
before it is considered complete, "similar crash semantics to a write()
system call followed by fdatasync()"; with `sync=false` (RocksDB's
default) "if the machine crashes, some recent writes may be lost". So,
under every model: with `sync=true` no acknowledged put is lost and the
database opens; with `sync=false` an acknowledged put may be lost with the
write-ahead log it was never synced into (`db/<n>.log`, and the MANIFEST
edit that would have retired that log), and nothing else may go wrong.
Anything else powercut reports is a finding: the three of
docs/findings/rocksdb.md, which only ALICE's rules reach (a directory
entry durable only through its directory's fsync, renames not atomic).
The tests below fail if one of them disappears or another cause appears.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from rocksdict import Options, Rdict

from powercut.explorer.verdict import LostWrite
from powercut.targets.kit.embedded import LibraryChecker
from powercut.targets.rocksdb import ROCKSDB, TARGET
from powercut.trace import Op, open_trace
from tests.targets_cli import causes, explore, header_paths, markers, record

SYNCED = {"db_dir": "db", "settings": {"sync": True}}
UNSYNCED_WAL = frozenset({"db/<n>.log", "db/MANIFEST-<n>"})
FINDINGS = {  # (kind, verdict, roles): docs/findings/rocksdb.md, under ALICE's rules only
    ("ordering", "unrecoverable", ("db/MANIFEST-<n>",)),  # 1. CURRENT before its MANIFEST
    ("lost-namespace", "unrecoverable", ("db/CURRENT",)),  # 2. the rename over CURRENT
    ("lost-namespace", "data-loss", ("db",)),  # 3. db/ never synced into its parent
}


def acknowledged(key: str, value: str) -> Op:
    return Op(seq=1, t_ns=0, pid=1, op="marker", text=f"put {key}={value} acknowledged",
              extra={"key": key, "value": value})


def documented(cause: dict[str, Any]) -> bool:
    """An acknowledged put lost with the write-ahead log it was never synced into: what
    RocksDB says `sync=false` may do."""
    roles = set(cause["roles"])
    return (cause["kind"], cause["verdict"]) == ("lost-data", "data-loss") and \
        "db/<n>.log" in roles and roles <= UNSYNCED_WAL


@pytest.mark.rocksdb
def test_the_checker_opens_as_an_application_and_says_rocksdbs_words(tmp_path: Path) -> None:
    db = Rdict(str(tmp_path / "db"), Options(raw_mode=True))
    db[b"k1"] = b"v1"
    db.flush(True)
    db.close()
    with LibraryChecker("rocksdb", TARGET.library, SYNCED, ROCKSDB, timeout=20) as checker:
        assert checker.check(tmp_path, [acknowledged("k1", "v1")]).verdict == "ok"
        lost = checker.check(tmp_path, [acknowledged("k2", "v2")])
        assert lost.evidence.missing == (LostWrite("k2", "v2", None),)
        (tmp_path / "db" / "CURRENT").write_text("MANIFEST-000099\n")
        broken = checker.check(tmp_path, [acknowledged("k1", "v1")])
        assert broken.verdict == "unrecoverable" and broken.exit_status == 2, broken
        assert broken.signature.startswith("open failed: IO error: No such file or directory")
        # No database at all: an application's Rdict() makes an empty one; the key is gone.
        shutil.rmtree(tmp_path / "db")
        assert checker.check(tmp_path, [acknowledged("k1", "v1")]).verdict == "data-loss"


@pytest.mark.fuse
@pytest.mark.rocksdb
def test_synced_puts_are_clean_under_lazyfs_and_ext4(tmp_path: Path) -> None:
    trace = record(tmp_path, "rocksdb", "--writes", "3")
    header = open_trace(trace).workload
    assert header["settings"] == {"sync": True} and header["rocksdb_version"].startswith("9.")
    assert TARGET.record_options(header) == {"writes": 3, "sync": "true"}
    assert not header_paths(header)
    status, doc = explore(trace, "--model", "lazyfs,ext4-ordered", "--budget", "600")
    assert (status, causes(doc)) == (0, [])


@pytest.mark.fuse
@pytest.mark.rocksdb
@pytest.mark.parametrize("sync", ["true", "false"])
def test_right_after_the_first_acknowledgement_only_an_unsynced_put_may_be_lost(
        tmp_path: Path, sync: str) -> None:
    """The documented difference at one crash point, under the two models that find no
    finding: with sync=false the put's WAL record is still in the page cache."""
    trace = record(tmp_path, "rocksdb", "--writes", "1", "--sync", sync)
    [ack] = [op.seq for op in markers(trace) if "intent" not in op.extra]
    status, doc = explore(trace, "--model", "lazyfs,ext4-ordered", "--points", str(ack))
    if sync == "true":
        assert (status, doc["causes"]) == (0, [])
        return
    assert status == 1
    [cause] = doc["causes"]
    assert documented(cause) and cause["models"] == ["lazyfs", "ext4-ordered"], cause
    assert cause["missing"] == ["key-0000"]


@pytest.mark.fuse
@pytest.mark.rocksdb
def test_a_current_naming_a_manifest_not_yet_in_the_directory_is_unrecoverable(
        tmp_path: Path) -> None:
    """Under ALICE's rule a directory entry persists only with its directory's fsync: the
    first CURRENT may reach the disk before the MANIFEST it names (docs/findings/rocksdb.md)."""
    trace = record(tmp_path, "rocksdb", "--writes", "1")
    ops = list(open_trace(trace).ops())
    current = next(op.seq for op in ops if op.op == "rename" and op.dst == "db/CURRENT")
    manifest = next(op.seq for op in ops if op.op == "create" and "MANIFEST" in str(op.path))
    status, doc = explore(trace, "--model", "alice", "--points", str(current), "--budget", "150")
    assert status == 1
    [cause] = [c for c in doc["causes"] if c["kind"] == "ordering"]
    assert (cause["roles"], cause["partner_roles"]) == (["db/MANIFEST-<n>"], ["db/CURRENT"])
    assert cause["culprit"] == {"point": current, "lost": [f"#{manifest}"]}
    assert cause["signatures"][0]["signature"].startswith(
        "open failed: IO error: No such file or directory")


@pytest.mark.fuse
@pytest.mark.rocksdb
@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("sync", ["true", "false"])
def test_what_rocksdb_documents_holds_under_every_model_and_the_rest_are_the_findings(
        tmp_path: Path, sync: str) -> None:
    trace = record(tmp_path, "rocksdb", "--writes", "3", "--sync", sync)
    status, doc = explore(trace, "--model", "lazyfs,ext4-ordered,alice", "--budget", "1000")
    assert status == 1
    lost = [c for c in doc["causes"] if documented(c)]
    others = [c for c in doc["causes"] if not documented(c)]
    if sync == "true":
        assert not lost, lost
    else:  # the positive control: the unsynced log's loss RocksDB documents, every model finds
        log = [c for c in lost if c["roles"] == ["db/<n>.log"]]
        assert [c["models"] for c in log] == [["lazyfs", "ext4-ordered", "alice"]], lost
    assert {(c["kind"], c["verdict"], tuple(c["roles"])) for c in others} == FINDINGS
    assert len(others) == len(FINDINGS)
    assert all(c["models"] == ["alice"] for c in others), others
