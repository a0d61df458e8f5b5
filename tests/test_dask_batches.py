"""On Dask, fast checks go to the workers in batches, with the verdicts a local run gives.

A task costs milliseconds of scheduler, client and worker time; checks of
tens of milliseconds sent one per task made the cluster a third slower
than the thread pool. A real `LocalCluster` explores the kvstore example
(`examples/check_kvstore.py`, which acknowledges puts it has not synced)
with the real command checker: every state must get the local verdict,
the cause must be the local one, and the scheduler must have run fewer
tasks than there were checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client, get_task_stream

from bench.synthetic import KV_CHECK, kvstore_trace
from powercut.explorer.checkers import CommandChecker
from powercut.explorer.exploration import Exploration
from powercut.explorer.run import dask_pool
from powercut.explorer.run.dask_pool import MAX_BATCH, DaskPool
from powercut.explorer.run.drive import explore
from powercut.explorer.run.hangs import Deadlines
from powercut.explorer.verdict import Verdict
from powercut.trace import open_trace
from tests.dask_cluster import local_client


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with local_client(tmp_path) as c:
        yield c


def verdicts(e: Exploration) -> list[tuple[int, str, str, str]]:
    return [(j.state.point, j.state.key, j.outcome.verdict, j.outcome.signature)
            for j in e.iter_judged()]


def test_fast_checks_go_in_batches_with_the_local_verdicts(
        client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch is sized from measured check durations, which a loaded machine
    # stretches; a longer batch target keeps batches full however slow the
    # machine is (the sizing itself is the next test's).
    monkeypatch.setattr(dask_pool, "BATCH_SECONDS", 4.0)
    trace = open_trace(kvstore_trace(tmp_path / "kv.trace", 40))
    checker = CommandChecker(KV_CHECK, timeout=10)
    local = explore(trace, checker, "lazyfs", workers=2, workdir=tmp_path)
    with get_task_stream(client) as tasks:
        remote = explore(trace, checker, "lazyfs", workers=2, workdir=tmp_path,
                         executor="dask", scheduler=client.scheduler.address)
    try:
        assert verdicts(remote) == verdicts(local)
        assert [c.id for c in remote.causes] == [c.id for c in local.causes]
        assert remote.causes, "the kvstore loses acknowledged puts: a cause is expected"
        checks = [t for t in tasks.data if t["key"].startswith("powercut-check-")]
        assert 0 < len(checks) < remote.checked / 2, (len(checks), remote.checked)
    finally:
        local.close()
        remote.close()


def test_a_batch_holds_about_a_quarter_second_of_checks() -> None:
    pool = DaskPool.__new__(DaskPool)  # the sizing alone: no cluster
    pool.deadlines = Deadlines(10.0, early=False)
    assert pool.batch_size == 1  # nothing measured yet: one state a task
    for _ in range(3):
        pool.deadlines.observe(Verdict("ok", duration=0.05))
    assert pool.batch_size == 5
    for _ in range(10):
        pool.deadlines.observe(Verdict("ok", duration=0.0015))
    assert pool.batch_size == MAX_BATCH
    for _ in range(30):
        pool.deadlines.observe(Verdict("ok", duration=2.0))
    assert pool.batch_size == 1
