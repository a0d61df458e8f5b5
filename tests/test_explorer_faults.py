"""Faults during an exploration: hangs, dying workers, taken ports; nothing is left behind.

A checker that hangs is killed at the timeout and judged `hang`; a worker
that dies (the checker raises, or its program is SIGKILLed by something
else) is tried once more on a fresh copy, then judged `error`; a port taken
by another program is retried on another. After every run: no child
process, no checker program, no etcd, no listening port of ours, and the
work directory is empty.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from powercut.explorer.checkers import Checker, CommandChecker
from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import ATTEMPTS, explore
from powercut.explorer.verdict import Verdict
from powercut.process import live_children
from powercut.targets.etcd.checker import EtcdChecker
from powercut.trace import Op, TraceWriter, open_trace
from tests.faultlog import FaultLog
from tests.guardians import guardian_of
from tests.realparts import TRACES
from tests.test_resume import checkers_running

PAGE = 4096
# Every fault this module injects, by the test that injects it (checked by the last test).
FAULTS = FaultLog({
    "test_a_hanging_checker_is_killed_at_the_timeout": "hang",
    "test_a_checker_that_raises_is_retried_once_then_an_error": "checker raised",
    "test_a_checker_program_killed_from_outside_is_retried_once": "SIGKILL",
    "test_an_etcd_exploration_with_a_taken_port_leaves_nothing": "port taken",
    "test_an_exploration_killed_outright_is_cleaned_up_by_the_next": "SIGKILL explore",
    "test_a_killed_explorations_guardian_ends_its_checkers_at_once":
        "SIGKILL explore, guardian alive",
})


def small_trace(path: Path) -> Path:
    """A two-page in-place write (4 states at that point), then a new file."""
    with TraceWriter(path, argv=["test"], workload={"name": "command"},
                     initial=[{"path": "f", "kind": "file", "mode": 0o644,
                               "data": b"o" * 2 * PAGE}]) as w:
        w.append("write", 1, path="f", offset=0, data=b"n" * 2 * PAGE)
        w.append("create", 1, path="g", mode=0o644)
    return path


def assert_nothing_left(tmp_path: Path, work: Path) -> None:
    assert live_children() == 0
    assert not checkers_running(tmp_path)
    assert list(work.iterdir()) == [], "a state directory was left behind"


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    return small_trace(tmp_path / "t.trace")


def run(trace: Path, checker: Checker, work: Path, **kwargs: object) -> Exploration:
    return explore(trace, checker, "lazyfs", workers=2, workdir=work, **kwargs)  # type: ignore[arg-type]


def test_a_hanging_checker_is_killed_at_the_timeout(tmp_path: Path, trace: Path) -> None:
    script = tmp_path / "hang.py"
    # It also forks a helper in its group and ignores SIGTERM: the group dies anyway.
    script.write_text("import os, signal, subprocess, sys, time\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)',"
                      " sys.argv[0]])\n"
                      "time.sleep(60)\n")
    checker = CommandChecker(f"{sys.executable} {script} {{dir}}", timeout=0.5)
    exploration = run(trace, checker, tmp_path / "work")
    FAULTS.add("hang", exploration.checked)
    assert exploration.checked == exploration.distinct > 1
    assert {j.outcome.verdict for j in exploration.judged} == {"hang"}
    exploration.close()
    assert_nothing_left(tmp_path, tmp_path / "work")


class Flaky(Checker):
    """Raises on the first `failures` calls for each state, then judges it ok."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[bytes, int] = {}
        self.lock = threading.Lock()

    def describe(self) -> str:
        return "flaky"

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        content = (directory / "f").read_bytes() + str(len(markers)).encode()
        content += b"g" if (directory / "g").exists() else b""
        with self.lock:
            self.calls[content] = self.calls.get(content, 0) + 1
            calls = self.calls[content]
        if calls <= self.failures:
            FAULTS.add("checker raised")
            raise RuntimeError("the checker broke")
        return Verdict("ok")


@pytest.mark.parametrize(("failures", "kind"), [(1, "ok"), (2, "error")])
def test_a_checker_that_raises_is_retried_once_then_an_error(tmp_path: Path, trace: Path,
                                                             failures: int, kind: str) -> None:
    checker = Flaky(failures)
    exploration = run(trace, checker, tmp_path / "work")
    assert {j.outcome.verdict for j in exploration.judged} == {kind}
    assert set(checker.calls.values()) == {min(failures + 1, ATTEMPTS)}
    if kind == "error":
        verdict = exploration.verdict(exploration.judged[0].state.key)
        assert verdict is not None and verdict.signature == "checker error: RuntimeError"
        assert verdict.evidence.attempts == ATTEMPTS
    exploration.close()
    assert_nothing_left(tmp_path, tmp_path / "work")


@pytest.mark.parametrize(("kills", "kind"), [(1, "ok"), (2, "error")])
def test_a_checker_program_killed_from_outside_is_retried_once(tmp_path: Path, trace: Path,
                                                                 kills: int, kind: str) -> None:
    """The program is SIGKILLed (as by the OOM killer) `kills` times per state."""
    script = tmp_path / "killed.py"
    script.write_text(
        "import hashlib, os, pathlib, signal, sys\n"
        "state = pathlib.Path(sys.argv[1])\n"
        "digest = hashlib.sha256(b''.join(p.name.encode() + p.read_bytes()\n"
        "                        for p in sorted(state.iterdir()))).hexdigest()\n"
        "count = pathlib.Path(sys.argv[2]) / digest\n"
        "with open(count, 'a') as f:\n"
        "    f.write('x')\n"
        f"if len(count.read_text()) <= {kills}:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    (tmp_path / "counts").mkdir()
    checker = CommandChecker(f"{sys.executable} {script} {{dir}} {tmp_path / 'counts'}",
                             timeout=30)
    exploration = run(trace, checker, tmp_path / "work")
    FAULTS.add("SIGKILL", sum(min(len(p.read_text()), kills)
                              for p in (tmp_path / "counts").iterdir()))
    assert {j.outcome.verdict for j in exploration.judged} == {kind}
    tries = {len(p.read_text()) for p in (tmp_path / "counts").iterdir()}
    assert tries == {min(kills + 1, ATTEMPTS)}
    if kind == "error":
        assert exploration.judged[0].outcome.signature == "killed by SIGKILL"
    exploration.close()
    assert_nothing_left(tmp_path, tmp_path / "work")


@pytest.fixture
def taken_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[int]]]:
    """The first ports the etcd checker takes include one another program listens on."""
    from powercut import ports

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        real_take = ports.take
        handed: list[list[int]] = []

        def take(n: int) -> list[int]:
            ports = real_take(n)
            if not handed:
                FAULTS.add("port taken")
                ports = [busy.getsockname()[1], *ports[1:]]
            handed.append(ports)
            return ports

        monkeypatch.setattr(ports, "take", take)
        yield handed


@pytest.mark.etcd
def test_an_etcd_exploration_with_a_taken_port_leaves_nothing(
        tmp_path: Path, etcd_bins: dict[str, Path], taken_port: list[list[int]]) -> None:
    trace = open_trace(TRACES / "etcd-3.5-bootstrap.trace")
    checker = EtcdChecker(etcd_bins["3.5"], trace.workload)
    exploration = run(trace.path, checker, tmp_path / "work", points=range(-1, 1))
    assert exploration.checked >= 1
    assert all(j.outcome.verdict == "ok" for j in exploration.judged)
    assert len(taken_port) > exploration.checked  # the taken port cost one retry
    exploration.close()
    assert_nothing_left(tmp_path, tmp_path / "work")
    for ports in taken_port[1:]:
        for port in ports:  # nothing listens on a port we handed out (TIME_WAIT is fine)
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                s.listen()


def test_an_exploration_killed_outright_is_cleaned_up_by_the_next(tmp_path: Path,
                                                                  trace: Path) -> None:
    """SIGKILL an explore whose checkers hang, and its guardian: the next explore ends them
    and removes the dir."""
    import os
    import signal
    import subprocess
    import time

    script = tmp_path / "stuck.py"
    script.write_text("import pathlib, sys, time\n"
                      "pathlib.Path(sys.argv[2]).touch()\n"
                      "time.sleep(300)\n")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    check = f"{sys.executable} {script} {{dir}} {tmp_path / 'started'}"
    killed = subprocess.Popen([sys.executable, "-m", "powercut", "explore", str(trace),
                               "--check-cmd", check, "--timeout", "300", "--workers", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(guardian_of(killed.pid), signal.SIGKILL)  # kill -9 of everything powercut runs
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    FAULTS.add("SIGKILL explore")
    orphans = [pid for pid in checkers_running(tmp_path) if pid != killed.pid]
    assert orphans, "the killed explore's checkers should still be running"
    assert sorted(p.name[:15] for p in (tmp_path / "tmp").iterdir()) == [
        "powercut-explor", "powercut-guard-"]  # its work dir, and its guardian's ledger

    ok = CommandChecker("true {dir}")
    run(trace, ok, tmp_path / "tmp")  # the next exploration in the same place
    assert not checkers_running(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_killed_explorations_guardian_ends_its_checkers_at_once(tmp_path: Path,
                                                                   trace: Path) -> None:
    """SIGKILL an explore whose checkers hang: its guardian ends them and removes its work
    dir right away, with no later run."""
    import os
    import signal
    import subprocess
    import time

    script = tmp_path / "stuck.py"
    script.write_text("import pathlib, sys, time\n"
                      "pathlib.Path(sys.argv[2]).touch()\n"
                      "time.sleep(300)\n")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    check = f"{sys.executable} {script} {{dir}} {tmp_path / 'started'}"
    killed = subprocess.Popen([sys.executable, "-m", "powercut", "explore", str(trace),
                               "--check-cmd", check, "--timeout", "300", "--workers", "2"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    FAULTS.add("SIGKILL explore, guardian alive")
    deadline = time.monotonic() + 30
    while (checkers_running(tmp_path) or list((tmp_path / "tmp").iterdir())) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert not checkers_running(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_every_fault_kind_was_injected(request: pytest.FixtureRequest) -> None:
    """Last in the module: each fault test selected really injected its fault."""
    FAULTS.assert_all_injected(request)
