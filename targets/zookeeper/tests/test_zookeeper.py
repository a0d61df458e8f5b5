"""The zookeeper target with the real ZooKeeper 3.8.0: recorded for real, explored, judged.

Explored exhaustively, a standalone server that has taken a few writes
cannot restart from three kinds of crash state, each a known upstream
problem (docs/targets/zookeeper.md):

- the startup snapshot `snapshot.0` is never fsynced: lose it while the
  log already holds synced transactions and the server says "No snapshot
  found, but there are log entries. Something is broken!" (LazyFS ZK #7);
- the 16-byte header of a new `log.1` is not synced with the padding byte
  written after it: keep the padding, lose the header, and the server says
  the log "has invalid magic number 0" (LazyFS ZK #2, ZOOKEEPER-1621);
- a crash right after `log.1` is created leaves it empty, which 3.8.0
  reads as `java.io.EOFException` (ZOOKEEPER-2332, fixed after 3.8.0).

The oracle never fires: the server replies only once the transaction is in
the fdatasynced log. The control: a state from before a reply, judged with
that reply's acknowledgement, is `data-loss`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from powercut.targets.zookeeper import binary, server
from powercut.targets.zookeeper.checker import ZooKeeperChecker
from powercut.trace import open_trace
from tests.targets_cli import explore, last_in_flight, markers, record, replayed

NO_SNAPSHOT = "java.io.IOException: No snapshot found, but there are log entries. " \
              "Something is broken!"
BAD_MAGIC = "java.io.IOException: Transaction log: <path> has invalid magic number N != N"
EMPTY_LOG = "java.io.EOFException"

FAILED_START = """\
[main] INFO org.apache.zookeeper.server.ZKDatabase - zookeeper.commitLogCount=500
[NIOWorkerThread-1] WARN org.apache.zookeeper.server.NIOServerCnxn - Close of session 0x0
java.io.IOException: ZooKeeperServer not running
\tat org.apache.zookeeper.server.NIOServerCnxn.readLength(NIOServerCnxn.java:557)
[main] ERROR org.apache.zookeeper.server.ZooKeeperServerMain - Unexpected exception, exiting
java.io.IOException: Failed to process transaction type: 1 error: KeeperErrorCode = NoNode
\tat org.apache.zookeeper.server.persistence.FileTxnSnapLog.restore(FileTxnSnapLog.java:290)
Caused by: org.apache.zookeeper.KeeperException$NoNodeException: KeeperErrorCode = NoNode
\tat org.apache.zookeeper.server.DataTree.processTxn(DataTree.java:900)
\t... 12 more
[main] ERROR org.apache.zookeeper.util.ServiceUtils - Exiting JVM with code 1
"""


def check_causes(doc: dict) -> None:
    """The three known causes, each with the roles and the words it must have."""
    by_kind: dict[str, list[dict]] = {}
    for c in doc["causes"]:
        by_kind.setdefault(c["kind"], []).append(c)
    assert sorted(by_kind) == ["lost-data", "prefix"], by_kind.keys()
    lost = {tuple(c["roles"]): {s["signature"] for s in c["signatures"]}
            for c in by_kind["lost-data"]}
    assert lost == {("data/version-2/snapshot.<n>",): {NO_SNAPSHOT},
                    ("datalog/version-2/log.<n>",): {BAD_MAGIC}}
    snapshot = next(c for c in by_kind["lost-data"] if "snapshot" in c["roles"][0])
    assert snapshot["barrier"].startswith("fsync data/version-2/snapshot.<n> before ")
    [prefix] = by_kind["prefix"]
    assert EMPTY_LOG in {s["signature"] for s in prefix["signatures"]}
    verdicts = {s["verdict"] for s in doc["states"]}
    assert "data-loss" not in verdicts and "hang" not in verdicts


def test_the_cause_is_the_root_of_the_exception_that_ended_the_server() -> None:
    cause = server.cause(FAILED_START)
    assert cause is not None and cause.message == \
        "org.apache.zookeeper.KeeperException$NoNodeException: KeeperErrorCode = NoNode"
    assert cause.excerpt.startswith("Caused by: ")


def test_the_config_keeps_everything_under_the_state(tmp_path: Path) -> None:
    cfg = dict(line.split("=", 1) for line in server.config(
        tmp_path, 2181, {"data_dir": "d", "data_log_dir": "l"}).splitlines())
    assert (cfg["dataDir"], cfg["dataLogDir"]) == (str(tmp_path / "d"), str(tmp_path / "l"))
    assert cfg["forceSync"] == "yes" and cfg["admin.enableServer"] == "false"


@pytest.mark.fuse
@pytest.mark.zookeeper
def test_three_known_causes_and_no_acknowledged_write_lost(tmp_path: Path) -> None:
    trace = record(tmp_path, "zookeeper", "--writes", "5")
    header = open_trace(trace).workload
    assert (header["name"], header["zookeeper_version"], header["writes"]) == (
        "zookeeper", "3.8.0", 5)
    assert not [v for v in header.values() if isinstance(v, str) and v.startswith("/")]
    status, doc = explore(trace)  # every default: exhaustive at this size
    assert status == 1 and doc["summary"]["coverage"]["exhaustive"]
    check_causes(doc)


@pytest.mark.fuse
@pytest.mark.zookeeper
def test_control_a_state_before_a_reply_misses_its_acknowledged_znode(tmp_path: Path) -> None:
    trace_path = record(tmp_path, "zookeeper", "--writes", "3")
    intent, last = last_in_flight(trace_path)
    state = replayed(tmp_path, trace_path, intent.seq)
    checker = ZooKeeperChecker(binary.with_java(binary.ZOOKEEPER.for_recording(None)),
                               open_trace(trace_path).workload)
    verdict = checker.check(state, markers(trace_path))
    assert verdict.verdict == "data-loss", verdict
    assert [m.key for m in verdict.evidence.missing] == [last.extra["key"]]


@pytest.mark.fuse
@pytest.mark.zookeeper
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_default_exploration_of_twenty_writes(tmp_path: Path) -> None:
    trace = record(tmp_path, "zookeeper", "--writes", "20")
    status, doc = explore(trace)
    assert status == 1 and doc["summary"]["coverage"]["exhaustive"]
    check_causes(doc)
