"""`powercut explore --resume` after `kill -9`: no judged state is checked again, same report.

The exploration runs as a real `powercut explore` process with a command
checker that counts its invocations in a file; it is SIGKILLed mid-run,
then resumed. Mid-run is made sure of, not waited for: while a `hold` file
exists, every check after the first third stops (and says so) before
judging, so the kill lands with some verdicts journaled and some not. What
the journal held at the kill is exactly what the resumed run does not check,
and its JSON report equals an uninterrupted run's (timings aside).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from powercut.explorer.store.journal import scan
from powercut.trace import TraceWriter

PAGE = 4096
OLD = b"o" * 5 * PAGE
NEW = b"n" * 5 * PAGE

# Its second argument is a directory (a file named on the command line would be part of
# the checker's identity, and the counter changes between runs).
CHECKER = '''
import os, sys, time
work = sys.argv[2]
with open(os.path.join(work, "counter"), "a") as f:
    f.write("x\\n")
with open(os.path.join(work, "counter")) as f:
    n = len(f.read().splitlines())
hold = os.path.join(work, "hold")
if os.path.exists(hold) and n > int(open(os.path.join(work, "limit")).read()):
    open(os.path.join(work, f"held-{os.getpid()}"), "w").close()
    while os.path.exists(hold):  # released by the test (after it killed the exploration)
        time.sleep(0.01)
data = open(os.path.join(sys.argv[1], "f"), "rb").read()
if data not in (b"o" * 5 * 4096, b"n" * 5 * 4096):
    sys.exit("f is torn")
'''


def torn_trace(path: Path) -> Path:
    """One 5-page in-place write with no fsync (32 kept-page subsets), then more ops."""
    with TraceWriter(path, argv=["test"], workload={"name": "command"},
                     initial=[{"path": "f", "kind": "file", "mode": 0o644, "data": OLD}]) as w:
        w.append("write", 1, path="f", offset=0, data=NEW)
        w.append("create", 1, path="g", mode=0o644)
        w.append("write", 1, path="g", offset=0, data=b"g")
    return path


def explore_args(tmp_path: Path, trace: Path, report: Path) -> list[str]:
    check = f"{sys.executable} {tmp_path / 'check.py'} {{dir}} {tmp_path}"
    return [sys.executable, "-m", "powercut", "explore", str(trace), "--check-cmd", check,
            "--workers", "2", "--json", str(report), "--no-cache",
            "--journal", str(tmp_path / "j.journal")]


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def checkers_running(tmp_path: Path) -> list[int]:
    """Living processes (not this one) whose command line names something under `tmp_path`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if str(tmp_path).encode() in cmdline and stat[stat.rindex(")") + 2] not in "ZX":
                found.append(int(entry))
    return found


def without_timings(report: Path) -> dict[str, Any]:
    document = json.loads(report.read_text())
    summary = document["summary"]
    summary.pop("elapsed_s")
    # How a verdict was had (checked now or resumed from the journal) is not what was found.
    summary["states_judged"] = summary.pop("states_checked") + summary.pop("states_reused")
    return document


def test_resume_after_kill_rechecks_nothing_and_reports_the_same(tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(CHECKER)
    trace = torn_trace(tmp_path / "t.trace")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()

    # The reference: one uninterrupted run (its own journal, removed after).
    whole = subprocess.run(
        [*explore_args(tmp_path, trace, tmp_path / "whole.json")[:-1],
         str(tmp_path / "whole.journal")], capture_output=True, text=True, env=env, timeout=300)
    assert whole.returncode == 1, whole.stderr
    distinct = json.loads((tmp_path / "whole.json").read_text())["summary"]["states_distinct"]
    assert lines(tmp_path / "counter") == distinct
    (tmp_path / "counter").unlink()

    (tmp_path / "limit").write_text(str(distinct // 3))
    (tmp_path / "hold").touch()
    killed = subprocess.Popen(explore_args(tmp_path, trace, tmp_path / "resumed.json"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # Some verdicts journaled, and a check held: the kill lands mid-run.
        while not (list(tmp_path.glob("held-*")) and (tmp_path / "j.journal").exists()
                   and scan(tmp_path / "j.journal")[0]):
            assert killed.poll() is None, "the exploration ended before it was killed"
            assert time.monotonic() < deadline, "no check was ever held"
            time.sleep(0.01)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
        (tmp_path / "hold").unlink()
    # Its checkers ran in their own sessions: let the orphans finish before counting.
    while checkers_running(tmp_path):
        assert time.monotonic() < deadline, "the killed exploration's checkers never ended"
        time.sleep(0.05)
    judged = {key for key, _, _ in scan(tmp_path / "j.journal")[0]}
    assert 0 < len(judged) < distinct, "the kill did not land mid-run"
    before = lines(tmp_path / "counter")

    resumed = subprocess.run([*explore_args(tmp_path, trace, tmp_path / "resumed.json"),
                              "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 1, resumed.stderr
    assert f"{len(judged)} states already judged" in resumed.stderr
    assert lines(tmp_path / "counter") - before == distinct - len(judged)
    assert without_timings(tmp_path / "resumed.json") == without_timings(tmp_path / "whole.json")
    # The SIGKILLed explore's work dir was removed by the resumed one.
    assert list((tmp_path / "tmp").iterdir()) == []
