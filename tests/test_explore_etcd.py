"""End to end on the committed etcd 3.4 bootstrap trace with the real etcd 3.4 and 3.5.

Restricted to the crash point right after bbolt's first 16 KiB write to
`member/snap/db` (the write of etcd issue 16596): its 4 pages give exactly
16 page subsets, and what each binary says about each was established by
running them (pages 0-1 are bbolt's meta pages, 2 the freelist, 3 the root).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from powercut.explorer.run.drive import explore
from powercut.process import live_children
from powercut.replayer.state import unfold_ids
from powercut.targets.etcd import binary
from powercut.targets.etcd.checker import EtcdChecker
from powercut.trace import open_trace
from tests.realparts import TRACES

TRACE = TRACES / "etcd-3.4-bootstrap.trace"
DB = "data.etcd/member/snap/db"

SIZE = {"3.4": "cannot open database (file size too small)",
        "3.5": "failed to open database: file size too small"}
INVALID = {"3.4": "cannot open database (invalid database)",
           "3.5": "failed to open database: invalid database"}
SIGBUS = "unexpected fault address (SIGBUS)"
FREELIST = "invalid freelist page: N, page type is unknown<N>"


def expected(version: str) -> dict[tuple[int, ...], str]:
    """Kept pages -> signature ("" for ok), the same shape for both binaries."""
    return {
        (): "", (0, 2, 3): "", (1, 2, 3): "", (0, 1, 2, 3): "",
        (0,): SIZE[version],
        (2,): INVALID[version], (3,): INVALID[version], (2, 3): INVALID[version],
        (1,): SIGBUS, (0, 1): SIGBUS, (0, 2): SIGBUS, (1, 2): SIGBUS, (0, 1, 2): SIGBUS,
        (0, 3): FREELIST, (1, 3): FREELIST, (0, 1, 3): FREELIST,
    }


def first_big_db_write() -> int:
    for op in open_trace(TRACE).ops():
        if op.op == "write" and op.path == DB and op.data is not None and len(op.data) == 16384:
            return op.seq
    raise AssertionError(f"{TRACE} has no 16 KiB write to {DB}")


@pytest.mark.etcd
@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_torn_first_db_write(version: str, etcd_bins: dict[str, Path], tmp_path: Path) -> None:
    trace = open_trace(TRACE)
    point = first_big_db_write()
    found = binary.ETCD.matching(trace.workload, etcd_bins[version])
    with EtcdChecker(found, trace.workload) as checker:
        exploration = explore(trace, checker, "lazyfs", workers=2, points=range(point, point + 1),
                              workdir=tmp_path / "work")
    assert [cp.point for cp in exploration.crash_points] == [point]
    assert exploration.enumerated == exploration.distinct == exploration.checked == 16
    got = {}
    for judged in exploration.judged:
        assert judged.state.point == point
        lost = [uid.rpartition(":") for uid in unfold_ids(judged.state.name.lost)]
        assert {path for path, _, _ in lost} <= {DB}
        pages = [p for p in range(4) if str(p) not in {page for _, _, page in lost}]
        assert judged.outcome.verdict == ("unrecoverable" if judged.outcome.signature else "ok")
        got[tuple(pages)] = judged.outcome.signature
    assert got == expected(version)
    # Log text names the state as `<state>`, never the temp dir that is gone.
    too_small = next(exploration.verdict(j.state.key) for j in exploration.judged
                     if "too small" in j.outcome.signature)
    assert too_small is not None
    assert f"<state>/{DB}" in too_small.excerpt + too_small.log_tail
    assert str(tmp_path) not in too_small.excerpt + too_small.log_tail
    assert version in exploration.checker
    assert live_children() == 0
    exploration.close()
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.etcd
@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_wal_without_members_hangs(version: str, etcd_bins: dict[str, Path],
                                   tmp_path: Path) -> None:
    """After `wal.tmp` is renamed to `wal` and before the first raft entries are synced, the
    member restarts with no voters and never elects itself: both binaries hang (found by
    exploring the whole trace; a short timeout keeps this test fast)."""
    trace = open_trace(TRACE)
    rename = next(op.seq for op in trace.ops() if op.op == "rename" and op.dst is not None
                  and op.dst.endswith("member/wal"))
    with EtcdChecker(etcd_bins[version], trace.workload) as checker:
        exploration = explore(trace, checker, "lazyfs", workers=1, timeout=1.5,
                              points=range(rename, rename + 1))
    [judged] = exploration.judged
    verdict = exploration.verdict(judged.state.key)
    assert verdict is not None and verdict.verdict == "hang"
    assert verdict.signature == "no answer within the timeout"
    assert verdict.excerpt
    assert live_children() == 0
