"""etcd-cluster with the real etcd 3.5: the bootstrap torn write of `member/snap/db`, per member.

`traces/etcd-cluster.trace` holds three members bootstrapping under one
mount; each member's first 16 KiB write of its db is its own op (node2 #17,
node1 #22, node3 #28). Crashing right after one of them (all members lose
power together) must be reported as a torn-write root cause of that
member's db, naming that member, and only it, as the one that cannot restart.
"""

from __future__ import annotations

import pytest

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
    # Checks of two clusters run side by side (six members on two cores): a loaded machine
    # must not make a healthy member look hung, so every deadline is the full, longer one.
    checker = EtcdClusterChecker(binary.ETCD.matching(trace.workload, None), trace.workload,
                                 timeout=30)
    with checker, explore(trace, checker, "lazyfs", workers=2, early_hangs=False,
                          points=range(seq, seq + 1)) as exploration:
        causes = exploration.causes
        torn = [c for c in causes if c.kind == "torn-write"]
        assert len(torn) == 1, [c.title for c in causes]
        assert torn[0].roles == (f"{member}/member/snap/db",)
        assert torn[0].torn is not None and torn[0].torn.write.seq == seq
        assert torn[0].fields == {"members": (member,)}
        assert all(s.signature.startswith(f"{member}: ") for s in torn[0].signatures)
        failing = [j for j in exploration.judged if j.outcome.failing]
        assert failing
        for j in failing:
            verdict = exploration.verdict(j.state.key)
            assert verdict is not None
            assert verdict.evidence.notes["members"][member] == "unrecoverable"
