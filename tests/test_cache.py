"""The results cache: a second exploration of the same states with the same checker checks nothing.

Explorations run as real `powercut explore` processes with a command checker
that counts its invocations, so "checks nothing" is what the checker saw,
not what powercut says. Verdicts are shared by content and checker identity
only: another timeout, an edited checker script, or other acknowledged
markers before an equal tree must each be judged again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from powercut.explorer.run.order import TraceFacts
from powercut.explorer.store.cache import ResultsCache
from powercut.explorer.verdict import Verdict
from powercut.trace import TraceWriter, open_trace

PAGE = 4096
OLD, NEW = b"o" * 3 * PAGE, b"n" * 3 * PAGE

# The count goes to a file in a directory named on the command line: a file named
# there is part of the checker's identity (its content when the checker is made).
CHECKER = '''
import os, sys
with open(os.path.join(sys.argv[2], "counter"), "a") as f:
    f.write("x\\n")
data = open(os.path.join(sys.argv[1], "f"), "rb").read()
if data not in (b"o" * 3 * 4096, b"n" * 3 * 4096):
    sys.exit("f is torn")
'''


def write_trace(path: Path) -> Path:
    """A 3-page in-place write with no fsync (8 subsets, 6 of them torn), then a new file."""
    with TraceWriter(path, argv=["test"], workload={"name": "command"},
                     initial=[{"path": "f", "kind": "file", "mode": 0o644, "data": OLD}]) as w:
        w.append("write", 1, path="f", offset=0, data=NEW)
        w.append("create", 1, path="g", mode=0o644)
    return path


def explore(tmp_path: Path, trace: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                                dict[str, Any], int]:
    """Run `powercut explore`; return the process, its JSON report and the checks it made."""
    counter = tmp_path / "counter"
    before = len(counter.read_text().splitlines()) if counter.exists() else 0
    report = tmp_path / "report.json"
    check = f"{sys.executable} {tmp_path / 'check.py'} {{dir}} {tmp_path}"
    cache = () if "--no-cache" in extra else ("--cache", str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "powercut", "explore", str(trace),
                           "--check-cmd", check, "--workers", "2", "--json", str(report),
                           *cache, *extra],
                          capture_output=True, text=True, timeout=300)
    after = len(counter.read_text().splitlines()) if counter.exists() else 0
    return done, json.loads(report.read_text()), after - before


def findings(report: dict[str, Any]) -> tuple[Any, Any]:
    return ([(s["key"], s["verdict"], s["signature"]) for s in report["states"]],
            [(c["id"], c["kind"], c["points"], c["barrier"]) for c in report["causes"]])


def test_second_exploration_checks_nothing_and_reports_the_same(tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(CHECKER)
    trace = write_trace(tmp_path / "t.trace")
    first, cold, checks = explore(tmp_path, trace)
    assert first.returncode == 1, first.stderr
    distinct = cold["summary"]["states_distinct"]
    assert checks == cold["summary"]["states_checked"] == distinct > 1
    assert cold["summary"]["states_reused"] == 0

    second, warm, checks = explore(tmp_path, trace)
    assert second.returncode == 1, second.stderr
    assert checks == 0
    assert warm["summary"]["states_checked"] == 0
    assert warm["summary"]["states_reused"] == distinct
    assert f"{distinct} of {distinct} distinct states judged from the results cache" \
        in second.stderr
    assert findings(warm) == findings(cold)


# A torn `f` hangs: the first such hang is judged at the full timeout, the others only up
# to the early deadline (inferred), and the cause is confirmed at the full timeout.
HANGING_CHECKER = CHECKER.replace('sys.exit("f is torn")', 'import time; time.sleep(600)')


def test_hangs_inferred_early_are_reused_and_their_cause_stays_confirmed(
        tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(HANGING_CHECKER)
    trace = write_trace(tmp_path / "t.trace")
    first, cold, _ = explore(tmp_path, trace, "--timeout", "3")
    assert first.returncode == 1, first.stderr
    assert cold["summary"]["verdicts"]["hang"] == 12  # 6 torn subsets at each of 2 points
    [cause] = cold["causes"]
    assert cause["verdict"] == "hang" and cause["hang"].startswith("confirmed")
    second, warm, checks = explore(tmp_path, trace, "--timeout", "3")
    assert second.returncode == 1, second.stderr
    assert checks == 0 and warm["summary"]["states_checked"] == 0
    assert findings(warm) == findings(cold)
    assert warm["causes"][0]["hang"] == cause["hang"]


def test_a_re_recorded_trace_with_identical_ops_hits_the_cache(tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(CHECKER)
    first, _, checks = explore(tmp_path, write_trace(tmp_path / "a.trace"))
    assert first.returncode == 1 and checks > 0
    again = write_trace(tmp_path / "b.trace")  # same ops, other times in header and records
    assert again.read_bytes() != (tmp_path / "a.trace").read_bytes()
    second, warm, checks = explore(tmp_path, again)
    assert second.returncode == 1
    assert checks == 0 and warm["summary"]["states_checked"] == 0


@pytest.mark.parametrize("change", ["timeout", "script", "no-cache"])
def test_what_a_verdict_depends_on_is_judged_again(change: str, tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(CHECKER)
    trace = write_trace(tmp_path / "t.trace")
    first, cold, _ = explore(tmp_path, trace)
    assert first.returncode == 1
    extra: tuple[str, ...] = ()
    if change == "timeout":
        extra = ("--timeout", "7")
    elif change == "script":
        (tmp_path / "check.py").write_text(CHECKER + "\n# edited\n")
    else:
        extra = ("--no-cache",)
    second, warm, checks = explore(tmp_path, trace, *extra)
    assert second.returncode == 1
    assert checks == cold["summary"]["states_distinct"]
    assert warm["summary"]["states_reused"] == 0


def test_no_cache_with_cache_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(CHECKER)
    done = subprocess.run([sys.executable, "-m", "powercut", "explore",
                           str(write_trace(tmp_path / "t.trace")), "--check-cmd", "true {dir}",
                           "--cache", str(tmp_path / "c"), "--no-cache"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "contradict" in done.stderr


def test_torn_cache_records_are_misses_never_verdicts(tmp_path: Path) -> None:
    with ResultsCache.open(tmp_path, "checker-a") as cache:
        cache.append("k1", Verdict("unrecoverable", signature="boom"))
        cache.append("k2", Verdict("ok"))
        cache.append("k3", Verdict("error", signature="checker error: X"))  # never kept
        path = cache.path
    whole = path.read_bytes()
    path.write_bytes(whole[:-3])  # k2's record torn by a crash
    with ResultsCache.open(tmp_path, "checker-a") as cache:
        assert cache.get("k1") == Verdict("unrecoverable", signature="boom")
        assert cache.get("k2") is None and cache.get("k3") is None
    with ResultsCache.open(tmp_path, "checker-b") as other:
        assert other.get("k1") is None


def test_states_before_other_acknowledgements_do_not_share_a_key(tmp_path: Path) -> None:
    def trace_with(value: bytes, name: str) -> TraceFacts:
        with TraceWriter(tmp_path / name, argv=["t"], workload={"name": "command"}) as w:
            w.append("create", 1, path="f", mode=0o644)
            w.append("marker", 1, text="put acknowledged", key=b"k", value=value)
            w.append("write", 1, path="f", offset=0, data=b"x")
        return TraceFacts.scan(open_trace(tmp_path / name).ops(), PAGE)

    a, b = trace_with(b"1", "a.trace"), trace_with(b"2", "b.trace")
    assert a.markers_digest(0) == b.markers_digest(0)  # no marker yet: the same
    assert a.markers_digest(1) != b.markers_digest(1)
    assert a.markers_digest(2) == a.markers_digest(1) != a.markers_digest(0)
