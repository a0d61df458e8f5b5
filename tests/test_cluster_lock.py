"""The etcd-cluster checker's lock on its fixed peer ports: waited for, never for ever.

Cluster checks of one port set run one at a time, across processes, by a
flock. A holder that never lets go (a stuck or stopped exploration) must
turn into one clear CheckerError after a bounded wait, not a hang. The
holder here is a real process in its own process group, killed in `finally`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from powercut.errors import CheckerError
from powercut.targets.etcd import cluster_checker
from powercut.targets.etcd.cluster_checker import EtcdClusterChecker, _ports_lock

PEERS = [23801, 23802, 23803]
HOLDER = '''
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(600)
'''


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The locks go here, not in the machine's /tmp, where another exploration may be."""
    monkeypatch.setattr(cluster_checker, "LOCK_DIR", str(tmp_path))
    return tmp_path


@contextlib.contextmanager
def held(lock_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another process holding the lock of PEERS until killed."""
    path = lock_dir / ("powercut-etcd-cluster-" + "-".join(map(str, PEERS)) + ".lock")
    ready = lock_dir / "holder-ready"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(ready)],
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert holder.poll() is None, "the holder died"
            assert time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.01)
        yield holder
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


def test_a_lock_held_by_another_process_is_a_checker_error(lock_dir: Path) -> None:
    with held(lock_dir) as holder:
        with pytest.raises(CheckerError) as raised, _ports_lock(PEERS, wait=0.3):
            pytest.fail("took a lock another process holds")
        message = str(raised.value)
        assert "23801, 23802, 23803" in message and "0.3" in message
        assert str(holder.pid) in message  # who holds it
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
        with _ports_lock(PEERS, wait=0.3):  # its holder is gone: free
            pass


@pytest.mark.etcd
def test_the_cluster_checker_gives_up_after_ten_timeouts(lock_dir: Path, tmp_path: Path,
                                                        etcd_bins: dict[str, Path]) -> None:
    workload = {"members": [{"name": f"node{n}", "data_dir": f"node{n}", "peer_port": port}
                            for n, port in enumerate(PEERS, 1)]}
    checker = EtcdClusterChecker(etcd_bins["3.5"], workload, timeout=0.05)
    state = tmp_path / "state"
    state.mkdir()
    with held(lock_dir), pytest.raises(CheckerError, match=r"waited 0\.5 ?s"):
        checker.check(state, [])
    assert not any((state / f"node{n}").exists() for n in range(1, 4))  # nothing started
