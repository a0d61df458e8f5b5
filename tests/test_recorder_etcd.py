"""Recording a real etcd bootstrap, with etcd 3.4 and 3.5, through the real mount.

The trace must hold the 16 KiB write at offset 0 of `member/snap/db` followed
by an fdatasync of it (the write the seed bug tears), and every WAL write
after the `member/wal.tmp` -> `member/wal` rename must name `member/wal/`:
paths follow a directory renamed while the WAL is open.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from powercut.recorder.mount import FSNAME, fuse_mounts
from powercut.recorder.record import record
from powercut.targets.etcd.workloads import EtcdBootstrap
from powercut.trace import Op, open_trace
from tests.realparts import TRACES

DB = "data.etcd/member/snap/db"


@pytest.fixture()
def nothing_of_ours_left() -> Iterator[None]:
    yield
    # Only this session's: other programs on the machine may be recording too.
    ours = os.path.join(tempfile.gettempdir(), "powercut-record-")
    assert not [m for src, m in fuse_mounts() if src == FSNAME and m.startswith(ours)]
    leftovers = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"etcd" in cmdline and os.fsencode(ours) in cmdline:
            leftovers.append(int(entry))
    assert leftovers == [], "etcd processes of a recording are still running"


def check_bootstrap(ops: list[Op]) -> None:
    first_db = next(i for i, op in enumerate(ops) if op.op == "write" and op.path == DB)
    assert ops[first_db].offset == 0 and len(ops[first_db].data or b"") == 16384
    assert any(op.op == "fsync" and op.datasync and op.path == DB for op in ops[first_db + 1:])
    renamed = next(i for i, op in enumerate(ops)
                   if op.op == "rename" and op.src == "data.etcd/member/wal.tmp")
    assert ops[renamed].dst == "data.etcd/member/wal"
    wal_writes = [op for op in ops[renamed + 1:] if op.op == "write" and "/wal" in (op.path or "")]
    assert wal_writes, "etcd wrote its WAL after the rename"
    for op in ops[renamed + 1:]:
        assert not any(p.startswith("data.etcd/member/wal.tmp/") for p in op.paths), op
    assert all(op.path.startswith("data.etcd/member/wal/") for op in wal_writes)


@pytest.mark.fuse
@pytest.mark.etcd
@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_etcd_bootstrap_is_recorded(version: str, etcd_bins: dict[str, Path], tmp_path: Path,
                                    nothing_of_ours_left: None) -> None:
    workload = EtcdBootstrap.with_binary(etcd_bins[version])
    result = record(tmp_path / "etcd.trace", workload, timeout=60)
    assert result.status == "complete", result.detail
    trace = open_trace(result.path)
    assert trace.status == "complete" and trace.op_count == result.ops
    header = trace.workload
    assert header["name"] == "etcd" and header["etcd_version"].startswith(version)
    assert header["etcd_bin"] == str(etcd_bins[version].resolve())
    assert header["data_dir"] == "data.etcd" and header["member_name"] == "default"
    check_bootstrap(list(trace.ops()))


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_committed_traces_hold_the_bootstrap(version: str) -> None:
    trace = open_trace(TRACES / f"etcd-{version}-bootstrap.trace")
    assert trace.status == "complete"
    assert trace.workload["etcd_version"].startswith(version)
    check_bootstrap(list(trace.ops()))
