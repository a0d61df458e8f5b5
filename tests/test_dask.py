"""`--executor dask`: the same exploration on a Dask cluster gives the same report as a local one.

A real `distributed.LocalCluster` (two worker processes, one thread each)
checks the crash points around the torn 16 KiB write of `member/snap/db`
with the real etcd 3.4; its verdicts, keys and vulnerabilities must equal a
local run's. Interrupting a Dask exploration must leave no etcd running on
the workers, and a scheduler that cannot be reached is one line and exit 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import explore
from powercut.targets.etcd.checker import EtcdChecker
from powercut.trace import open_trace
from tests.dask_cluster import local_cluster
from tests.realparts import TRACES

# Every test explores an etcd trace: the etcd checker is set up (its --version) first.
pytestmark = pytest.mark.etcd

TRACE = TRACES / "etcd-3.4-bootstrap.trace"
AROUND_THE_TORN_WRITE = range(7, 10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    with local_cluster(tmp_path) as c:
        yield c.scheduler_address


def findings(e: Exploration) -> tuple[Any, Any]:
    states = [(j.state.point, j.state.name, j.state.key, j.outcome.verdict, j.outcome.signature)
              for j in e.judged]
    causes = [(c.id, c.kind, c.failing, c.points, c.torn) for c in e.causes]
    return states, causes


def test_dask_and_local_explorations_agree(cluster: str, etcd_bins: dict[str, Path]) -> None:
    trace = open_trace(TRACE)
    with EtcdChecker(etcd_bins["3.4"], trace.workload) as checker:
        local = explore(trace, checker, "lazyfs", workers=2, points=AROUND_THE_TORN_WRITE)
        remote = explore(trace, checker, "lazyfs", points=AROUND_THE_TORN_WRITE,
                         executor="dask", scheduler=cluster)
    assert remote.workers == 2
    assert remote.checked == remote.distinct == local.distinct
    assert findings(remote) == findings(local)
    assert sum(j.outcome.verdict == "unrecoverable" for j in remote.judged) == 12


def powercut(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "powercut", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_cli_report_on_dask_equals_the_local_one(cluster: str, tmp_path: Path) -> None:
    reports = {}
    for name, extra in (("local", ()), ("dask", ("--executor", "dask", "--scheduler", cluster))):
        done = powercut("explore", str(TRACE), "--points", "7-9", "--no-cache", "--workers", "2",
                        "--json", str(tmp_path / f"{name}.json"), *extra)
        _, err = done.communicate(timeout=300)
        assert done.returncode == 1, err
        reports[name] = json.loads((tmp_path / f"{name}.json").read_text())
        reports[name]["summary"].pop("elapsed_s")
    assert without_excerpts(reports["dask"]) == without_excerpts(reports["local"])


def without_excerpts(report: dict[str, Any]) -> dict[str, Any]:
    """The report less the log excerpts (addresses and goroutine numbers differ per run)."""
    for cause in report["causes"]:
        for signature in cause["signatures"]:
            signature.pop("excerpt")
    return report


# Every state of these crash points hangs: the WAL has no members, etcd never elects.
HANGING_POINTS = "19-24"


def test_interrupted_dask_exploration_leaves_no_etcd(cluster: str, tmp_path: Path) -> None:
    """Interrupted while a worker waits on a hung etcd, the exploration ends and that etcd is
    gone: the worker's check was stopped, not left to time out. With a timeout far longer
    than the test waits, an exploration that waited for its checks could not end in time."""
    run = powercut("explore", str(TRACE), "--points", HANGING_POINTS, "--no-cache",
                   "--executor", "dask", "--scheduler", cluster, "--timeout", "3600",
                   "--json", str(tmp_path / "r.json"), "--journal", str(tmp_path / "j.journal"),
                   start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not etcd_pids():  # any etcd of these points is a hanging one
            assert run.poll() is None, run.communicate()[1]
            assert time.monotonic() < deadline, "no etcd was seen on the workers"
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()
    assert run.returncode == 130, err
    assert "interrupted" in err
    # The workers stop their checks once the client is gone: seconds on a loaded machine,
    # not the hour of --timeout an exploration that waited for its checks would take.
    gone = time.monotonic() + 30
    while etcd_pids() and time.monotonic() < gone:
        time.sleep(0.1)
    assert not etcd_pids()


def etcd_pids() -> set[int]:
    """etcds of this test session (their data dir under the session's TMPDIR)."""
    found = subprocess.run(["pgrep", "-f", "--", f"--data-dir {tempfile.gettempdir()}"],
                           capture_output=True, text=True)
    return {int(p) for p in found.stdout.split()}


def test_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    run = powercut("explore", str(TRACE), "--executor", "dask", "--scheduler",
                   "tcp://127.0.0.1:9", "--json", str(tmp_path / "r.json"))
    _, err = run.communicate(timeout=120)
    assert run.returncode == 2
    assert err.count("\n") == 1 and "cannot reach a Dask scheduler" in err
    assert not (tmp_path / "r.json").exists()


def test_scheduler_without_dask_is_a_usage_error() -> None:
    run = powercut("explore", str(TRACE), "--scheduler", "tcp://127.0.0.1:9")
    _, err = run.communicate(timeout=60)
    assert run.returncode == 2 and "--scheduler goes with --executor dask" in err


def test_without_a_scheduler_a_local_cluster_comes_and_goes(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    run = powercut("explore", str(TRACE), "--points", "8", "--no-cache", "--executor", "dask",
                   "--workers", "2", "--json", str(tmp_path / "r.json"),
                   env={**os.environ, "TMPDIR": str(tmp)})
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, err
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["workers"] == 2 and summary["verdicts"] == {"ok": 4, "unrecoverable": 12}
    assert list(tmp.iterdir()) == []  # its workers' and scheduler's scratch space is gone
