"""An exploration stopped by SIGTERM after failing verdicts never reports itself clean.

The exploration runs as a real `powercut explore` process whose command
checker fails every state; after its first few checks every further check
holds (while a `hold` file exists), so the SIGTERM lands with failing
verdicts journaled and the rest not judged. The terminal, JSON and HTML
reports must say the failing states were not analysed and how to go on,
never "no root cause found" with no cause.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from powercut.explorer.store.journal import decode_verdict, scan
from tests.test_resume import checkers_running, torn_trace

CHECKER = '''
import os, sys, time
work = sys.argv[2]
with open(os.path.join(work, "counter"), "a") as f:
    f.write("x\\n")
with open(os.path.join(work, "counter")) as f:
    n = len(f.read().splitlines())
if n > 4:
    while os.path.exists(os.path.join(work, "hold")):  # released once the test stopped it
        time.sleep(0.01)
sys.exit("the program never recovers")
'''


def test_sigterm_after_failing_verdicts_reports_them_not_analysed(tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(CHECKER)
    (tmp_path / "tmp").mkdir()
    (tmp_path / "hold").touch()
    trace = torn_trace(tmp_path / "t.trace")
    report, html, journal = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "j.journal"
    check = f"{sys.executable} {tmp_path / 'check.py'} {{dir}} {tmp_path}"
    run = subprocess.Popen(
        [sys.executable, "-m", "powercut", "explore", str(trace), "--check-cmd", check,
         "--workers", "2", "--no-cache", "--json", str(report), "--html", str(html),
         "--journal", str(journal)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    try:
        deadline = time.monotonic() + 120
        while not (journal.exists() and any(
                decode_verdict(fields).verdict == "unrecoverable"
                for _, _, fields in scan(journal)[0])):
            assert run.poll() is None, "the exploration ended before it was stopped"
            assert time.monotonic() < deadline, "no failing verdict was ever journaled"
            time.sleep(0.02)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=120)
    finally:
        (tmp_path / "hold").unlink()
        if run.poll() is None:
            run.kill()
            run.wait()
    while checkers_running(tmp_path):
        assert time.monotonic() < deadline, "the stopped exploration's checkers never ended"
        time.sleep(0.05)

    assert run.returncode == 130, err
    judged = scan(journal)[0]
    failing = sum(decode_verdict(fields).verdict == "unrecoverable" for _, _, fields in judged)
    assert failing > 0
    assert "no root cause found" not in out
    assert "NOT ANALYSED (interrupted)" in out and "--resume" in out, out
    summary = json.loads(report.read_text())["summary"]
    assert (summary["analysed"], summary["not_analysed"]) == (False, "interrupted")
    assert summary["failing"] >= failing  # duplicates of a failing state count too
    assert summary["result"].startswith(f"NOT ANALYSED (interrupted): {summary['failing']} ")
    page = html.read_text()
    assert "NOT ANALYSED (interrupted)" in page and "no root cause found" not in page
