"""`powercut explore` without --budget: the engine's default, or the trace's target's own.

A target whose program is slow to start on a large state (a database with
a 13 MB initial tree) sets `Target.default_budget`, so a bare `powercut
explore TRACE` of its traces stays within minutes; --budget still decides.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from powercut import targets
from powercut.replayer.enumeration import DEFAULT_BUDGET
from powercut.session.choice import default_budget
from tests.synthetic import make_trace


def test_the_target_of_the_workload_names_the_budget(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    trace = make_trace(tmp_path / "t.trace", [], workload={"name": "slow-db"})
    assert default_budget(trace) == DEFAULT_BUDGET  # no target has that workload
    monkeypatch.setattr(targets, "for_workload", lambda name: SimpleNamespace(
        default_budget=300 if name == "slow-db" else None))
    assert default_budget(trace) == 300
    other = make_trace(tmp_path / "o.trace", [], workload={"name": "fast-db"})
    assert default_budget(other) == DEFAULT_BUDGET


def test_a_trace_without_a_target_budget_keeps_the_engine_default(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", [("mkdir", {"path": "d", "mode": 0o755})])
    out = tmp_path / "dry.json"
    done = subprocess.run([sys.executable, "-m", "powercut", "explore", str(trace.path),
                           "--check-cmd", "true {dir}", "--dry-run", "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["summary"]["coverage"]["budget"] == DEFAULT_BUDGET
