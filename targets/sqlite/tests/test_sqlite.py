"""The `sqlite` target, held to what SQLite's documentation of `PRAGMA synchronous` promises.

https://www.sqlite.org/pragma.html#pragma_synchronous, after a power loss:

- FULL "ensures that an operating system crash or power failure will not
  corrupt the database"; EXTRA is "like FULL with the addition that the
  directory containing a rollback journal is synced after that journal is
  unlinked to commit a transaction in DELETE mode. EXTRA provides
  additional durability if the commit is followed closely by a power
  loss": in DELETE mode, FULL may roll back the last commit, EXTRA may not;
- "WAL mode is always consistent with synchronous=NORMAL, but WAL mode does
  lose durability"; with FULL in WAL mode "transactions are durable across a
  power loss";
- OFF: "the database might become corrupted".

So under every model: no setting but OFF leaves a database SQLite cannot
open or that fails `integrity_check` (no `unrecoverable` cause); DELETE at
EXTRA and WAL at FULL lose no acknowledged transaction; DELETE at FULL
loses one only by the journal's unlink (its directory not synced: the
hot journal rolls the commit back), which a model that may lose a
namespace operation reaches (`ext4-ordered`, `alice`) and `lazyfs` never
does. docs/targets/sqlite.md has what powercut found.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from powercut.explorer.verdict import LostWrite
from powercut.targets.kit.embedded import LibraryChecker
from powercut.targets.sqlite import SQLITE, TARGET
from powercut.trace import Op, open_trace
from tests.targets_cli import explore, header_paths, record

DELETE_FULL = {"db_dir": ".", "settings": {"journal_mode": "delete", "synchronous": "full"}}


def acknowledged(key: str, value: str) -> Op:
    return Op(seq=1, t_ns=0, pid=1, op="marker", text=f"put {key}={value} acknowledged",
              extra={"key": key, "value": value})


@pytest.mark.sqlite
def test_the_checker_judges_in_sqlites_own_words(tmp_path: Path) -> None:
    """A row read back is ok, a missing one data-loss, a page of garbage unrecoverable with
    SQLite's own message; a state with no database yet loses whatever was acknowledged."""
    db = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    db.executemany("INSERT INTO kv VALUES (?, ?)", [(f"k{i}", "v" * 2000) for i in range(20)])
    db.close()
    markers = [acknowledged("k3", "v" * 2000)]
    with LibraryChecker("sqlite", TARGET.library, DELETE_FULL, SQLITE, timeout=20) as checker:
        assert checker.check(tmp_path, markers).verdict == "ok"
        lost = checker.check(tmp_path, [acknowledged("k99", "x")])
        assert lost.verdict == "data-loss" and lost.evidence.missing == (
            LostWrite("k99", "x", None),)
        with open(tmp_path / "app.db", "r+b") as f:
            f.seek(2 * 4096)
            f.write(b"\xa5" * 4096)
        broken = checker.check(tmp_path, markers)
        assert broken.verdict == "unrecoverable" and broken.exit_status == 2, broken
        assert broken.signature.startswith(("open failed: ", "read failed: "))
        assert "malformed" in broken.signature or "integrity_check" in broken.signature
        (tmp_path / "app.db").unlink()
        assert checker.check(tmp_path, markers).verdict == "data-loss"


@pytest.mark.fuse
@pytest.mark.sqlite
def test_delete_mode_at_full_may_roll_back_the_last_commit_and_never_corrupts(
        tmp_path: Path) -> None:
    trace = record(tmp_path, "sqlite", "--writes", "3")
    header = open_trace(trace).workload
    assert header["sqlite_version"] == sqlite3.sqlite_version and not header_paths(header)
    assert TARGET.record_options(header) == {"writes": 3, "journal_mode": "delete",
                                             "synchronous": "full"}
    status, doc = explore(trace, "--model", "lazyfs,ext4-ordered")
    assert status == 1
    [cause] = doc["causes"]
    assert (cause["kind"], cause["verdict"], cause["models"]) == (
        "lost-namespace", "data-loss", ["ext4-ordered"])
    assert cause["barrier"].startswith("fsync the directory (the mount root) after unlink "
                                       "app.db-journal")


DOCUMENTED = [  # (journal_mode, synchronous, may lose acknowledged writes)
    ("delete", "extra", False),
    ("wal", "full", False),
    ("wal", "normal", True),
    ("delete", "full", True),
]


@pytest.mark.fuse
@pytest.mark.sqlite
@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize(("journal_mode", "synchronous", "may_lose"), DOCUMENTED)
def test_what_sqlite_documents_holds_under_every_model(
        tmp_path: Path, journal_mode: str, synchronous: str, may_lose: bool) -> None:
    trace = record(tmp_path, "sqlite", "--writes", "3", "--journal-mode", journal_mode,
                   "--synchronous", synchronous)
    status, doc = explore(trace, "--model", "lazyfs,ext4-ordered,alice", "--budget", "1000")
    corrupt = [c for c in doc["causes"] if c["verdict"] != "data-loss"]
    assert not corrupt, corrupt
    if not may_lose:
        assert (status, doc["causes"]) == (0, [])


@pytest.mark.fuse
@pytest.mark.sqlite
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_at_off_in_delete_mode_the_database_is_corrupted(tmp_path: Path) -> None:
    """The positive control: what SQLite says OFF may do, powercut finds, with any model."""
    trace = record(tmp_path, "sqlite", "--writes", "3", "--synchronous", "off")
    status, doc = explore(trace, "--budget", "1000")
    assert status == 1
    signatures = {s["signature"] for c in doc["causes"] if c["verdict"] == "unrecoverable"
                  for s in c["signatures"]}
    assert signatures & {"open failed: file is not a database",
                         "open failed: database disk image is malformed"}, signatures
