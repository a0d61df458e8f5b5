"""etcd-cluster checks side by side: each in a network of its own, on the recorded peer ports.

The members of `traces/etcd-cluster.trace` listen on peer ports fixed in
their data, so two checks on one machine's loopback collide; the pool runs
each in a network namespace of its own (`Checker.own_network`). Two states
checked at once by `check_state` (the unit every pool runs) must both
recover, run at the same time (all six members are alive at once at some
moment), take no port lock, and leave no program and no namespace behind.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from powercut import namespaces, process
from powercut.explorer.run.order import TraceFacts
from powercut.explorer.run.pool import check_state
from powercut.explorer.verdict import Verdict
from powercut.replayer.models import get_model
from powercut.replayer.replay import state_at
from powercut.targets.etcd import binary, cluster_checker
from powercut.targets.etcd.cluster_checker import EtcdClusterChecker
from powercut.trace import open_trace
from tests.realparts import TRACES


@pytest.mark.etcd
def test_two_cluster_checks_run_at_once_each_on_its_own_loopback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_lock(*args: object, **kwargs: object) -> None:
        raise AssertionError("a check in its own network took the port lock")

    monkeypatch.setattr(cluster_checker, "_ports_lock", no_lock)
    trace = open_trace(TRACES / "etcd-cluster.trace")
    checker = EtcdClusterChecker(binary.ETCD.matching(trace.workload, None), trace.workload)
    assert "one check at a time" not in checker.describe()
    last = trace.op_count - 1
    state = state_at(trace, get_model("lazyfs", trace.page_size), last)
    markers = TraceFacts.scan(trace.ops(), trace.page_size).markers_before(last)
    verdicts: dict[int, Verdict | None] = {}
    home = os.readlink("/proc/thread-self/ns/net")

    def check(n: int) -> None:
        verdicts[n] = check_state(checker, state, markers, tmp_path / f"w{n}")

    most = 0
    threads = [threading.Thread(target=check, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        most = max(most, process.live_children())
        time.sleep(0.005)
    for t in threads:
        t.join()
    got = [verdicts[n] for n in range(2)]
    assert all(v is not None and v.verdict == "ok" for v in got), got
    assert most == 6, most  # both clusters' members at once, not one cluster after the other
    assert process.live_children() == 0
    assert not namespaces.in_own_network()
    assert os.readlink("/proc/thread-self/ns/net") == home
    assert not list(tmp_path.iterdir())  # the pool's work dirs are gone
