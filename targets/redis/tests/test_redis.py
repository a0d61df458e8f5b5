"""The `redis` target with Debian's redis-server 7.0: AOF, acknowledged writes, read back.

Found (docs/targets/redis.md): with `appendfsync always` every write is
fdatasynced before its reply, and LazyFS's model finds nothing; with
`appendfsync no` (the positive control) acknowledged SETs are lost with the
unsynced pages of the incremental AOF. A torn or garbage AOF tail makes
Redis refuse to start, and the checker says so in Redis's own words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from powercut.targets.redis import server
from powercut.targets.redis.checker import RedisChecker
from powercut.trace import open_trace
from tests.targets_cli import causes, explore, header_paths, markers, record, replayed

INCR = "appendonlydir/appendonly.aof.<n>.incr.aof"


def test_redis_cause_is_its_last_message_without_pid_and_time() -> None:
    log = ("17413:C 01 Dec 2026 15:47:11.300 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo\n"
           "17413:M 01 Dec 2026 15:47:11.315 * DB loaded from base file appendonly.aof.1.base"
           ".rdb: 0.000 seconds\n"
           "17413:M 01 Dec 2026 15:47:11.315 # Bad file format reading the append only file "
           "appendonly.aof.1.incr.aof: make a backup of your AOF file\n")
    found = server.cause(log)
    assert found is not None
    assert found.signature == ("Bad file format reading the append only file "
                               "appendonly.aof.1.incr.aof: make a backup of your AOF file")
    assert server.cause("no redis line here\n") is None


@pytest.mark.fuse
@pytest.mark.redis
def test_appendfsync_always_is_clean_under_lazyfs(tmp_path: Path) -> None:
    trace = record(tmp_path, "redis", "--writes", "20")
    header = open_trace(trace).workload
    assert header["redis_version"].startswith("7.") and header["appendfsync"] == "always"
    assert header["writes"] == 20 and not header_paths(header)
    status, doc = explore(trace)
    assert (status, causes(doc)) == (0, [])
    assert doc["summary"]["coverage"]["exhaustive"]
    assert doc["summary"]["verdicts"] == {"ok": doc["summary"]["states_enumerated"]}


@pytest.mark.fuse
@pytest.mark.redis
def test_appendfsync_no_loses_acknowledged_writes(tmp_path: Path) -> None:
    """The positive control: Redis acknowledges before the AOF is on disk."""
    trace = record(tmp_path, "redis", "--writes", "20", "--appendfsync", "no")
    status, doc = explore(trace)
    assert status == 1
    assert [c[:3] for c in causes(doc)] == [("lost-data", "data-loss", (INCR,))]
    assert causes(doc)[0][3].startswith(f"fsync {INCR} before acknowledging")


@pytest.mark.fuse
@pytest.mark.redis
def test_garbage_after_the_aof_tail_is_unrecoverable_in_redis_words(tmp_path: Path) -> None:
    trace = record(tmp_path, "redis", "--writes", "4")
    loaded = open_trace(trace)
    state = replayed(tmp_path, trace, loaded.op_count - 1)
    acknowledged = markers(trace)
    checker = RedisChecker(server.PROGRAM.matching(loaded.workload, None), loaded.workload)
    with checker:
        assert checker.check(state, acknowledged).verdict == "ok"
        aof = state / "appendonlydir" / "appendonly.aof.1.incr.aof"
        with open(aof, "ab") as f:
            f.write(b"\0" * 100)
        verdict = checker.check(state, acknowledged)
    assert verdict.verdict == "unrecoverable" and verdict.exit_status == 1
    assert verdict.signature.startswith("Bad file format reading the append only file")


@pytest.mark.fuse
@pytest.mark.redis
def test_alice_loses_the_aof_directory_redis_never_fsyncs_the_parent_of(tmp_path: Path) -> None:
    """Under ALICE's rules a directory entry is durable only through an fsync of its parent:
    Redis 7.0 fsyncs appendonlydir, never the directory that holds it."""
    trace = record(tmp_path, "redis", "--writes", "3")
    status, doc = explore(trace, "--model", "alice", "--points", "11-")
    assert status == 1
    found = {(kind, verdict, roles) for kind, verdict, roles, _ in causes(doc)}
    assert ("lost-namespace", "data-loss", ("appendonlydir",)) in found, causes(doc)


def test_record_options_come_from_the_header_and_name_no_path() -> None:
    from powercut import targets
    header = {"name": "redis", "redis_version": "7.0.15", "redis_sha256": "ab",
              "appendfsync": "no", "writes": 20}
    assert targets.for_workload("redis").record_options(header) == {
        "writes": 20, "appendfsync": "no"}
    header = {"name": "git", "git_version": "2.39.5", "writes": 3,
              "git_config": ["core.fsync=all"]}
    assert targets.for_workload("git").record_options(header) == {
        "writes": 3, "git_config": "core.fsync=all"}
    header = {"name": "leveldb", "leveldb_version": "1.23", "writes": 800, "value_size": 100,
              "sync_every": 50}
    assert targets.for_workload("leveldb").record_options(header) == {
        "writes": 800, "value_size": 100, "sync_every": 50}
