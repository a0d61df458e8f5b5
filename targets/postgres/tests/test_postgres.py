"""The postgres target with the real PostgreSQL 15: recorded for real, explored, judged.

With `synchronous_commit=on` every acknowledged COMMIT survives every crash
state powercut tries; the one root cause it finds is PostgreSQL's own
refusal to start on an empty `postmaster.pid` (the server creates the lock
file, and a crash before its first fsync leaves it empty: "lock file
"postmaster.pid" is empty", with a hint that names a startup crash). The
control: the checker reads rows back, so a state from before a commit
judged with that commit's acknowledgement is `data-loss`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from powercut.targets.postgres import binary, server
from powercut.targets.postgres.checker import PostgresChecker
from powercut.targets.postgres.workloads import future_segments
from powercut.trace import open_trace
from tests.targets_cli import explore, last_in_flight, markers, powercut, record, replayed

EMPTY_LOCK = 'lock file "postmaster.pid" is empty'


def test_a_stale_lock_file_goes_and_a_broken_one_stays(tmp_path: Path) -> None:
    lock = tmp_path / "postmaster.pid"
    for content, kept in ((b"4242\n/data\n", False), (b"", True), (b"\0" * 64, True),
                          (b"x\n", True)):
        lock.write_bytes(content)
        server.clear_stale_lock(tmp_path)
        assert lock.exists() == kept, content


def test_the_cause_is_the_first_panic_never_a_client_turned_away() -> None:
    log = ("LOG:  database system was interrupted\n"
           "FATAL:  the database system is starting up\n"
           "FATAL:  could not open file \"pg_wal/0001\": No such file\n"
           "PANIC:  could not locate a valid checkpoint record\n"
           "LOG:  startup process (PID 12) was terminated by signal 6: Aborted\n")
    cause = server.cause(log)
    assert cause is not None and cause.message == "could not locate a valid checkpoint record"
    assert cause.excerpt.startswith("PANIC:")
    other = server.cause(log.replace("PANIC", "LOG"))
    assert other is not None and other.message == 'could not open file "pg_wal/0001": No such file'
    assert server.cause("FATAL:  the database system is starting up\n") is None


def test_only_segments_after_the_checkpoint_one_are_recycled(tmp_path: Path) -> None:
    names = ["000000010000000000000005", "000000010000000000000006",
             "000000010000000000000007", "000000010000000000000008"]
    for name in [*names, "archive_status"]:
        (tmp_path / name).mkdir() if name == "archive_status" else (tmp_path / name).touch()
    assert [p.name for p in future_segments(tmp_path, names[1])] == names[2:]


@pytest.mark.fuse
@pytest.mark.postgres
def test_committed_writes_survive_and_an_empty_lock_file_is_the_one_cause(
        tmp_path: Path) -> None:
    trace = record(tmp_path, "postgres", "--writes", "6")
    header = open_trace(trace).workload
    assert header["name"] == "postgres" and header["writes"] == 6
    assert header["postgres_version"].startswith("15.")
    assert not [v for v in header.values() if isinstance(v, str) and v.startswith("/")]
    # Without --budget the target's own applies (the dry run checks nothing).
    dry = tmp_path / "dry.json"
    assert powercut("explore", str(trace), "--dry-run", "--json", str(dry)).returncode == 0
    assert json.loads(dry.read_text())["summary"]["coverage"]["budget"] == 600

    status, doc = explore(trace, "--budget", "40")
    assert status == 1
    [cause] = doc["causes"]
    assert (cause["kind"], cause["verdict"], cause["first_point"]) == (
        "prefix", "unrecoverable", 0)
    assert [s["signature"] for s in cause["signatures"]] == [EMPTY_LOCK]
    # Every other state recovers with every acknowledged row: no data-loss anywhere.
    assert {s["verdict"] for s in doc["states"]} == {"ok", "unrecoverable"}
    assert all(s["point"] <= 1 for s in doc["states"] if s["verdict"] != "ok")


@pytest.mark.fuse
@pytest.mark.postgres
def test_control_a_state_before_a_commit_misses_its_acknowledged_row(tmp_path: Path) -> None:
    trace_path = record(tmp_path, "postgres", "--writes", "3")
    intent, last = last_in_flight(trace_path)
    state = replayed(tmp_path, trace_path, intent.seq)
    checker = PostgresChecker(binary.POSTGRES.candidates()[0], open_trace(trace_path).workload)
    # The state before the last commit, judged as if its acknowledgement had been seen.
    verdict = checker.check(state, markers(trace_path))
    assert verdict.verdict == "data-loss", verdict
    assert [m.key for m in verdict.evidence.missing] == [last.extra["key"]]


@pytest.mark.fuse
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_default_exploration_finds_only_the_empty_lock_file(tmp_path: Path) -> None:
    """Twenty writes, every default (the target's budget of 600 states, the auto strategy)."""
    trace = record(tmp_path, "postgres", "--writes", "20")
    status, doc = explore(trace)
    assert status == 1
    assert [(c["kind"], [s["signature"] for s in c["signatures"]]) for c in doc["causes"]] == [
        ("prefix", [EMPTY_LOCK])]
    assert doc["summary"]["states_checked"] == 600
