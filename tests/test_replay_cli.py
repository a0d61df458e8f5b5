"""`powercut replay` and the replayer on the committed etcd bootstrap traces.

The traces are real recordings (traces/etcd-3.4-bootstrap.trace and
traces/etcd-3.5-bootstrap.trace). The first write to member/snap/db is the
16 KiB bbolt initialisation that a torn write breaks (etcd issue 16596).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from powercut.cli import main
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.materialise import materialise
from powercut.replayer.models import get_model
from powercut.replayer.replay import state_at
from powercut.trace import Trace, open_trace

ROOT = Path(__file__).resolve().parent.parent
TRACES = [ROOT / "traces/etcd-3.4-bootstrap.trace", ROOT / "traces/etcd-3.5-bootstrap.trace"]
DB = "data.etcd/member/snap/db"


def _first_db_write(trace: Trace) -> tuple[int, bytes]:
    for op in trace.ops():
        if op.op == "write" and op.path == DB:
            assert op.data is not None
            return op.seq, op.data
    raise AssertionError(f"{trace.path}: no write to {DB}")


def _wal_truncate(trace: Trace) -> tuple[int, str]:
    for op in trace.ops():
        if op.op == "truncate" and op.path and op.path.endswith(".wal") and op.size:
            return op.seq, op.path
    raise AssertionError(f"{trace.path}: no WAL preallocation")


@pytest.fixture(params=TRACES, ids=["etcd-3.4", "etcd-3.5"])
def trace(request: pytest.FixtureRequest) -> Trace:
    path = request.param
    assert path.exists(), f"{path} is missing: record it with `powercut record`"
    return open_trace(path)


def test_first_db_write_has_exactly_16_states(trace: Trace) -> None:
    seq, data = _first_db_write(trace)
    assert (len(data), next(op.offset for op in trace.ops() if op.seq == seq)) == (16384, 0)
    enumeration = Enumeration(trace, get_model(), points=[seq])
    states = list(enumeration)
    assert len(states) == 16
    assert len({s.key for s in states}) == 16
    assert enumeration.crash_points[0].units == 4
    assert {s.name.lost for s in states} >= {(f"{DB}:0-3",), (f"{DB}:0",), ()}
    # With LazyFS's own 8 KiB split the same write has two halves: 4 states.
    assert len(list(Enumeration(trace, get_model("lazyfs", 8192), points=[seq]))) == 4


def test_replay_cli_keeps_the_last_two_pages(trace: Trace, tmp_path: Path) -> None:
    seq, data = _first_db_write(trace)
    out = tmp_path / "state"
    status = main(["replay", str(trace.path), "--point", str(seq),
                   "--keep", f"{DB}:2,3", "--to", str(out)])
    assert status == 0
    db = (out / DB).read_bytes()
    assert len(db) == 16384
    assert db[:8192] == bytes(8192)
    assert db[8192:] == data[8192:]


def test_keeping_nothing_leaves_an_empty_db(trace: Trace, tmp_path: Path) -> None:
    seq, _ = _first_db_write(trace)
    materialise(state_at(trace, get_model(), seq, keep=[]), tmp_path / "s")
    assert (tmp_path / "s" / DB).stat().st_size == 0


def test_preallocated_wal_stays_sparse(trace: Trace, tmp_path: Path) -> None:
    seq, _ = _wal_truncate(trace)
    last = trace.op_count - 1
    materialise(state_at(trace, get_model(), last), tmp_path / "s")
    wals = list((tmp_path / "s/data.etcd/member/wal").glob("*.wal"))
    assert wals, "the WAL directory (renamed from wal.tmp) holds the WAL"
    for wal in wals:
        st = wal.stat()
        assert st.st_size == 64_000_000
        assert st.st_blocks * 512 < 1 << 20, f"{wal} takes {st.st_blocks * 512} bytes"
    assert seq < last


def test_replay_cli_process_errors_are_one_line(trace: Trace, tmp_path: Path) -> None:
    seq, _ = _first_db_write(trace)
    run = subprocess.run(
        [sys.executable, "-m", "powercut", "replay", str(trace.path), "--point", str(seq),
         "--keep", f"{DB}:7", "--to", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"powercut: error: {DB}:7 is not a pending unit at crash point {seq}; "
        f"pending there: {DB}:0-3"]
    assert not (tmp_path / "x").exists()
    ok = subprocess.run(
        [sys.executable, "-m", "powercut", "replay", str(trace.path), "--point", str(seq),
         "--keep-all", "--to", str(tmp_path / "y")],
        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"crash point {seq}: ")
    assert "lost nothing" in ok.stdout


def test_replay_cli_names_a_state_by_its_lost_units(trace: Trace, tmp_path: Path) -> None:
    """The form reports print (`--lose`) and the page form (`--keep`) name the same state."""
    seq, _ = _first_db_write(trace)
    assert main(["replay", str(trace.path), "--point", str(seq), "--lose", f"{DB}:0-1",
                 "--to", str(tmp_path / "a")]) == 0
    assert main(["replay", str(trace.path), "--point", str(seq), "--keep", f"{DB}:2,3",
                 "--to", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / DB).read_bytes() == (tmp_path / "b" / DB).read_bytes()


def test_replay_of_a_cut_trace_needs_prefix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    whole = TRACES[1].read_bytes()
    cut = tmp_path / "cut.trace"
    cut.write_bytes(whole[:len(whole) // 2])
    args = ["replay", str(cut), "--point", "3", "--keep-all", "--to"]
    assert main([*args, str(tmp_path / "a")]) == 2
    assert "pass --prefix" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    assert main([*args, str(tmp_path / "b"), "--prefix"]) == 0
    assert (tmp_path / "b/data.etcd/member").is_dir()  # seq 3 made it
