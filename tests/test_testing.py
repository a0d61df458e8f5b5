"""`powercut.testing`: the strategy draws legal states and shrinks to the culprit; the hypothesis
database replays a failure; the plugin leaves nothing behind; emitted regression tests fail on
the bug and pass on the fix; `--baseline`, `--fail-on-new` and `powercut diff`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models import get_model
from powercut.replayer.state import unfold_ids
from powercut.testing import CrashCase, crash_states
from tests.realparts import REPO
from tests.synthetic import PAGE, make_trace
from tests.test_models_weak import ops, trace_of

BLOCK = b"".join(bytes([65 + p]) * PAGE for p in range(4))


def _exhaustive_keys(trace, model: str) -> dict[int, set[str]]:  # type: ignore[no-untyped-def]
    out: dict[int, set[str]] = {}
    for state in Enumeration(trace, get_model(model, trace.page_size), strategy="exhaustive"):
        out.setdefault(state.point, set()).add(state.key)
    return out


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=ops(), model=st.sampled_from(["lazyfs", "ext4-ordered", "alice"]),
       data=st.data())
def test_the_strategy_draws_only_legal_states(tmp_path: Path, operations, model: str,  # type: ignore[no-untyped-def]
                                              data: st.DataObject) -> None:
    trace = trace_of(tmp_path, operations, "s.trace")
    legal = _exhaustive_keys(trace, model)
    strategy = crash_states(trace, model)
    for _ in range(10):
        case = data.draw(strategy)
        assert case.key in legal[case.point]


def test_it_shrinks_a_torn_write_to_one_lost_page(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", [
        ("create", {"path": "f", "mode": 0o600}),
        ("create", {"path": "g", "mode": 0o600}),
        ("write", {"path": "f", "offset": 0, "data": BLOCK}),
        ("write", {"path": "g", "offset": 0, "data": b"later"}),
        ("fsync", {"path": "f", "datasync": True})])

    def torn(case: CrashCase) -> bool:
        pages = {int(u.rpartition(":")[2]) for u in unfold_ids(case.name.lost)
                 if u.startswith("f:")}
        return 0 < len(pages) < 4 and case.point in (2, 3)

    found = find(crash_states(trace), torn, settings=settings(database=None, max_examples=500))
    assert found.point == 2  # the earliest point where it shows
    assert found.name.lost in (("f:0",), ("f:1",), ("f:2",), ("f:3",))
    assert "powercut replay" in repr(found) and "--lose f:" in repr(found)


TEST_FILE = '''
from pathlib import Path
from hypothesis import given, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from powercut.testing import crash_states

CALLS = Path(__file__).parent / "calls"

@settings(database=DirectoryBasedExampleDatabase(str(Path(__file__).parent / "db")),
          deadline=None)
@given(crash_states(str(Path(__file__).parent / "t.trace")))
def test_no_lost_page(state):
    with open(CALLS, "a") as f:
        f.write(repr(state) + "\\n")
    assert not state.name.lost, state
'''


def test_the_hypothesis_database_replays_a_failure_after_a_restart(tmp_path: Path) -> None:
    make_trace(tmp_path / "t.trace", [("create", {"path": "f", "mode": 0o600}),
                                      ("write", {"path": "f", "offset": 0, "data": BLOCK})])
    (tmp_path / "test_case.py").write_text(TEST_FILE)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = []
    for _ in range(2):  # (a fixed --hypothesis-seed would turn the database off)
        (tmp_path / "calls").unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(tmp_path / "test_case.py")],
                              capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=300)
        assert done.returncode == 1, done.stdout
        runs.append((tmp_path / "calls").read_text().splitlines())
    shrunk = runs[0][-1]
    assert "lost f:" in shrunk
    # hypothesis prints the falsifying example as the command that rebuilds it
    assert f"state={shrunk}," in done.stdout
    assert runs[1][0] == shrunk  # the restart tries the saved failure first


PLUGIN_TEST = '''
import sys
from powercut.testing import check, crash_states
from hypothesis import HealthCheck, given, settings

@settings(deadline=None, max_examples=5, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=crash_states("t.trace"))
def test_hanging_checker(state, crash_dir, powercut_record):
    # a checker that forks a sleeper and hangs: killed at its timeout, nothing left behind
    cmd = "sh -c 'sleep 30 & sleep 30' {dir}"
    assert check(state, check_cmd=cmd, timeout=0.3).verdict == "hang"
    assert crash_dir.is_dir() and not any(crash_dir.iterdir())
'''


@pytest.mark.fuse
def test_the_plugin_leaves_no_process_or_temp_dir_behind(tmp_path: Path) -> None:
    make_trace(tmp_path / "t.trace", [("create", {"path": "f", "mode": 0o600}),
                                      ("write", {"path": "f", "offset": 0, "data": b"x"})])
    (tmp_path / "test_plugin_case.py").write_text(PLUGIN_TEST)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_plugin_case.py", "--basetemp", str(tmp_path / "base")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "TMPDIR": str(tmp)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(tmp.iterdir()) == []
    left = subprocess.run(["pgrep", "-f", f"sleep 30.*{tmp}"], capture_output=True, text=True)
    assert left.stdout == ""


def _powercut(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600, env={**os.environ, "CI": "true"})


@pytest.mark.fuse
def test_an_emitted_test_fails_on_the_bug_and_passes_on_the_fix(tmp_path: Path) -> None:
    for name in ("kvstore.py", "check_kvstore.py"):
        shutil.copy(REPO / "examples" / name, tmp_path / name)
    program = tmp_path / "kvstore.py"
    done = _powercut("record", "--workload", "command", "-o", "kv.trace", "--",
                     sys.executable, str(program), "{mnt}", "workload", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    check = f"{sys.executable} {tmp_path / 'check_kvstore.py'} {{dir}} {{markers}}"
    done = _powercut("explore", "kv.trace", "--check-cmd", check, "--no-cache",
                     "--emit-tests", "regression", "--json", "before.json", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    [emitted] = sorted((tmp_path / "regression").glob("test_powercut_*.py"))
    text = emitted.read_text()
    assert str(tmp_path) not in text and "/tmp" not in text  # no path of this machine
    assert "Missing barrier: fsync store.log before acknowledging" in text
    # Its cause's own crash points, with the budget that found it (the default, 2000).
    cause = json.loads((tmp_path / "before.json").read_text())["causes"][0]
    assert f"POINTS = range({cause['first_point']}, {cause['last_point']} + 1)" in text
    assert "BUDGET = 2000" in text

    def run_emitted() -> int:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(emitted)], capture_output=True, text=True, cwd=tmp_path,
                              timeout=600).returncode

    assert run_emitted() == 1  # the bug is there
    # The fix: the program fsyncs before it acknowledges (the example's --fsync, by default).
    program.write_text(program.read_text().replace('fsync = "--fsync" in rest',
                                                   "fsync = True"))
    assert run_emitted() == 0

    # The fixed program, compared with the report before: the cause is gone.
    done = _powercut("record", "--workload", "command", "-o", "kv2.trace", "--",
                     sys.executable, str(program), "{mnt}", "workload", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _powercut("explore", "kv2.trace", "--check-cmd", check, "--no-cache", "--json",
                     "after.json", "--baseline", "before.json", "--fail-on-new", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    diff = _powercut("diff", "before.json", "after.json", cwd=tmp_path)
    assert diff.returncode == 0 and "1 gone" in diff.stdout
    again = _powercut("diff", "after.json", "before.json", cwd=tmp_path)
    assert again.returncode == 1 and again.stdout.startswith("new: C")
    before = json.loads((tmp_path / "before.json").read_text())
    assert [c["kind"] for c in before["causes"]] == ["lost-data"]


PLUGIN_USER = '''
import subprocess

import pytest

from powercut.process import Child

OTHER = subprocess.Popen(["sleep", "60"])  # another project's process
LEFT = []


def test_without_the_fixture(tmp_path):
    LEFT.append(Child(["sleep", "60"], tmp_path / "a.log"))


@pytest.mark.usefixtures("powercut_cleanup")
def test_with_it(tmp_path):
    LEFT.append(Child(["sleep", "60"], tmp_path / "b.log"))


def test_after():
    try:
        assert LEFT[0].poll() is None  # not opted in: left alone
        assert LEFT[1].poll() is not None  # opted in: powercut's own child ended
        assert OTHER.poll() is None  # never another project's process
    finally:
        for child in LEFT:
            child.kill(0)
        OTHER.kill()
        OTHER.wait()
'''


def test_the_plugins_cleanup_is_opt_in_and_ends_only_powercuts_children(tmp_path: Path) -> None:
    """The plugin loads in every project that installs powercut: it touches no process
    unless a test asks it to, and then only the children powercut started during it."""
    (tmp_path / "test_user.py").write_text(PLUGIN_USER)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_user.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout + done.stderr
