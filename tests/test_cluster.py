"""etcd-cluster with the real etcd 3.5: the bootstrap torn write of `member/snap/db`, per member.

`traces/etcd-cluster.trace` holds three members bootstrapping under one
mount; each member's first 16 KiB write of its db is its own op (node2 #17,
node1 #22, node3 #28). Crashing right after one of them (all members lose
power together) must be reported as an atomicity vulnerability naming that
member, and only it, as the one that cannot restart.
"""

from __future__ import annotations

import pytest

from powercut.explorer.analysis.grouping import find_vulnerabilities
from powercut.explorer.run.drive import explore
from powercut.targets.etcd import binary
from powercut.targets.etcd.cluster_checker import EtcdClusterChecker
from powercut.trace import open_trace
from tests.realparts import TRACES

TORN = {17: "node2", 22: "node1", 28: "node3"}


@pytest.mark.etcd
@pytest.mark.parametrize(("seq", "member"), sorted(TORN.items()))
def test_torn_db_write_names_the_member(seq: int, member: str) -> None:
    trace = open_trace(TRACES / "etcd-cluster.trace")
    checker = EtcdClusterChecker(binary.for_trace(trace.workload, None), trace.workload)
    with checker:
        exploration = explore(trace, checker, "lazyfs", workers=2, points=range(seq, seq + 1))
    vulns = find_vulnerabilities(exploration)
    torn = [v for v in vulns if v.kind == "atomicity" and v.op is not None and v.op.seq == seq]
    assert len(torn) == 1, [v.title for v in vulns]
    assert torn[0].members == (member,)
    assert all(s.signature.startswith(f"{member}: ") for s in torn[0].signatures)
    failing = [j for j in exploration.judged if j.verdict.failing]
    assert failing and all(j.verdict.evidence["members"][member] == "unrecoverable"
                           for j in failing)
