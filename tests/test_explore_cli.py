"""`powercut explore` as a user runs it: exit statuses, one-line errors, dry run, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.realparts import TRACES
from tests.synthetic import make_trace

TRACE = TRACES / "etcd-3.4-bootstrap.trace"


def powercut(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def processes_mentioning(text: str) -> dict[int, str]:
    """Living processes whose command line holds `text`, as {pid: command line}."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z":
            found[int(entry)] = cmdline
    return found


@pytest.mark.parametrize(("args", "message"), [
    (["missing.trace"], "cannot read trace"),
    ([str(TRACE), "--etcd-bin", "/nonexistent/etcd"], "--etcd-bin /nonexistent/etcd"),
    ([str(TRACE), "--check-cmd", "true"], "has no {dir}"),
    ([str(TRACE), "--checker", "command"], "needs --check-cmd"),
    ([str(TRACE), "--points", "9-3"], "--points"),
    ([str(TRACE), "--points", "9:3"], "expected N, A-B, A-"),
    # Checked once the trace's checker is set up: the etcd it was recorded with must be here.
    pytest.param([str(TRACE), "--points", "500"], "does not exist", marks=pytest.mark.etcd),
    pytest.param([str(TRACE), "--max-states", "1"], "--max-states", marks=pytest.mark.etcd),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = powercut("explore", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_not_a_trace_is_exit_2(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.trace"
    bogus.write_bytes(b"not a trace")
    done = powercut("explore", str(bogus))
    assert done.returncode == 2
    assert "not a powercut trace" in done.stderr


def test_dry_run_enumerates_without_checking(tmp_path: Path) -> None:
    out = tmp_path / "dry.json"
    done = powercut("explore", str(TRACE), "--dry-run", "--points", "8-9", "--json", str(out),
                    "--etcd-bin", "/nonexistent/etcd")
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["kind"] == "powercut-dry-run"
    assert [cp["point"] for cp in document["crash_points"]] == [8, 9]
    assert document["summary"]["states_enumerated"] == 16 + 1


@pytest.mark.etcd
def test_reports_of_the_torn_db_write(tmp_path: Path, etcd_bins: dict[str, Path]) -> None:
    done = powercut("explore", str(TRACE), "--points", "8", "--etcd-bin", str(etcd_bins["3.5"]),
                    "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"),
                    "--lazyfs-dir", str(tmp_path / "lazyfs"))
    assert done.returncode == 1, done.stderr
    assert "torn-write" in done.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["states_checked"] == 16
    assert [c["kind"] for c in report["causes"]] == ["torn-write"]
    assert (tmp_path / "r.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert list((tmp_path / "lazyfs").iterdir())


@pytest.mark.etcd
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_everything_and_leaves_nothing(sig: int, tmp_path: Path,
                                                       etcd_bins: dict[str, Path]) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "powercut", "explore", str(TRACE), "--workers", "2",
             "--etcd-bin", str(etcd_bins["3.4"]), "--journal", str(tmp_path / "j.journal")],
            stdout=out, stderr=err, env=env)
        seen: set[int] = set()
        try:
            deadline = time.monotonic() + 120
            running: dict[int, str] = {}
            # Interrupt once some checks are done and an etcd is running right now.
            while time.monotonic() < deadline and not (len(seen) >= 3 and running):
                running = {p: c for p, c in processes_mentioning(str(tmp)).items()
                           if "etcd" in c.split()[0]}
                seen.update(running)
                assert proc.poll() is None, Path(tmp_path / "err").read_text()
                time.sleep(0.02)
            assert running, "no etcd was seen running under the exploration"
            proc.send_signal(sig)
            status = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = (tmp_path / "err").read_text()
    assert status == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert processes_mentioning(str(tmp)) == {}
    assert list(tmp.iterdir()) == []


def test_trace_cut_short_needs_prefix(tmp_path: Path) -> None:
    cut = tmp_path / "cut.trace"
    cut.write_bytes(TRACE.read_bytes()[:-200])
    done = powercut("explore", str(cut), "--dry-run")
    assert done.returncode == 2
    assert "--prefix" in done.stderr
    done = powercut("explore", str(cut), "--dry-run", "--prefix", "--points", "8")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["states_enumerated"] == 16


TORN_CHECK = '''
import os, sys
path = os.path.join(sys.argv[1], "f")
data = open(path, "rb").read() if os.path.exists(path) else b""
sys.exit(0 if data in (b"", b"n" * 3 * 4096) else "f is torn")
'''


def test_explain_names_a_cause_whatever_the_number_of_models(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", [
        ("create", {"path": "f", "mode": 0o600}),
        ("write", {"path": "f", "offset": 0, "data": b"n" * 3 * 4096})])
    (tmp_path / "check.py").write_text(TORN_CHECK)
    check = f"{sys.executable} {tmp_path / 'check.py'} {{dir}}"
    for models in ("lazyfs", "lazyfs,ext4-ordered"):
        done = powercut("explore", str(trace.path), "--check-cmd", check, "--model", models,
                        "--no-cache", "--explain", "1")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "failing states (examples):" in done.stdout, models
        missing = powercut("explore", str(trace.path), "--check-cmd", check, "--model", models,
                           "--no-cache", "--explain", "9")
        assert "there is no root cause 9" in missing.stderr, models
