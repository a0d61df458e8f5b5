"""A full disk under the crash states pauses the exploration; `--resume` finishes it.

The states are built under `TMPDIR`, here a 1 MiB tmpfs: the states of
the first crash points fit, those after a 1.5 MiB write do not. The
exploration stops in one line (exit 2) naming the state it could not
build, keeps every verdict judged so far in its journal, and leaves
nothing on the tmpfs; run again with room and `--resume`, it checks only
what was left and reports what an exploration with room from the start
reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.mounts import tmpfs
from tests.realparts import REPO
from tests.synthetic import make_trace

KIB = 1024


def explore(trace: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "powercut", "explore", str(trace), "--check-cmd",
         "test -f {dir}/f", "--no-cache", "--workers", "1", "--budget", "60", *args],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**os.environ, "TMPDIR": str(tmp)})


def summary(report: Path) -> dict[str, object]:
    doc = json.loads(report.read_text())
    return {"verdicts": doc["summary"]["verdicts"], "causes": [c["id"] for c in doc["causes"]],
            "states": [(s["point"], s["lost"], s["verdict"]) for s in doc["states"]]}


def test_a_full_disk_pauses_and_resume_finishes(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", [
        ("create", {"path": "f", "mode": 0o644}),
        ("write", {"path": "f", "offset": 0, "data": b"a" * 256 * KIB}),
        ("fsync", {"path": "f", "datasync": False}),
        ("write", {"path": "f", "offset": 256 * KIB, "data": b"b" * 1536 * KIB}),
        ("fsync", {"path": "f", "datasync": False}),
    ]).path
    journal = tmp_path / "r.journal"
    with tmpfs(tmp_path / "small", "1m") as small:
        paused = explore(trace, small, "--json", str(tmp_path / "r.json"),
                         "--journal", str(journal))
        assert paused.returncode == 2, paused.stderr
        [line] = [x for x in paused.stderr.splitlines() if x.startswith("powercut: error")]
        assert "no space left to build crash state" in line and "--resume" in line
        assert "Traceback" not in paused.stderr
        kept = [x for x in journal.read_bytes().split(b"\n") if x]
        assert kept, "the verdicts judged before the disk filled are in the journal"
        assert os.listdir(small) == []  # no state, no work dir left on the full disk
    room = tmp_path / "room"
    room.mkdir()
    resumed = explore(trace, room, "--json", str(tmp_path / "r.json"), "--journal",
                      str(journal), "--resume")
    assert "resuming from" in resumed.stderr
    fresh = explore(trace, room, "--json", str(tmp_path / "fresh.json"))
    # Before op 0 there is no `f`: a cause the checker finds, exit 1, in both runs alike.
    assert resumed.returncode == fresh.returncode == 1, resumed.stderr + fresh.stderr
    assert summary(tmp_path / "r.json") == summary(tmp_path / "fresh.json")
