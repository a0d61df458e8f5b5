"""etcd-writes with the real etcd 3.5.1: does an acknowledged put survive a power cut?

Measured on `traces/etcd-writes.trace` (100 writes, full exploration by
hand): etcd 3.5.1 as a single member sometimes answers a put before the
fdatasync of the WAL write that holds it (the trace shows write, the
acknowledgement marker, then the fdatasync), so a crash there loses an
acknowledged put under the default model. Here: key-0002 (write #58,
acknowledged at #59, synced at #60), while key-0001 (synced at #55 before
its acknowledgement at #56) is never lost.
"""

from __future__ import annotations

import pytest

from powercut.explorer.run.drive import explore
from powercut.targets.etcd import binary
from powercut.targets.etcd.checker import EtcdChecker
from powercut.targets.etcd.workloads import plan_writes
from powercut.trace import open_trace
from tests.realparts import TRACES


def test_plan_has_fresh_keys_overwrites_and_one_delete() -> None:
    writes = plan_writes(100)
    assert len(writes) == 100
    assert sum(w.value is None for w in writes) == 1
    values = [w.value for w in writes if w.value is not None]
    assert len(values) == len(set(values))
    assert len({w.key for w in writes}) < 99  # some keys written twice


@pytest.mark.etcd
def test_acknowledged_put_lost_before_its_fsync() -> None:
    trace = open_trace(TRACES / "etcd-writes.trace")
    texts = {op.seq: op.text for op in trace.ops() if op.op == "marker"}
    assert texts[56] == "put key-0001=value-0001 acknowledged"
    assert texts[59] == "put key-0002=value-0002 acknowledged"
    checker = EtcdChecker(binary.ETCD.matching(trace.workload, None), trace.workload)
    with checker:
        exploration = explore(trace, checker, "lazyfs", workers=2, points=range(55, 61))
    lost = {j.state.point: [m.key for m in exploration.verdict(j.state.key).evidence.missing]
            for j in exploration.judged if j.outcome.verdict == "data-loss"}
    assert lost == {59: ["key-0002"]}
    assert all(j.outcome.verdict in ("ok", "data-loss") for j in exploration.judged)
