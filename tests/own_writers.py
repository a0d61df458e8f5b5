"""powercut on its own durable files: a writer program and its checker, through the CLI.

A test writes the two modules (`NAME_writer.py`, `NAME_check.py`) into its
temp dir, records the writer through the real FUSE mount and explores the
trace with the checker, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def powercut(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`powercut ARGS` run in `cwd`, with the modules written there importable."""
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(cwd)})


def record_and_explore(tmp_path: Path, name: str, writer: str, checker: str, how: str,
                       *explore_args: str
                       ) -> tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]]:
    """The trace of `NAME_writer {mnt} HOW`, the exploration with `NAME_check` (2 workers,
    and `explore_args`) and its JSON report."""
    (tmp_path / f"{name}_writer.py").write_text(writer)
    (tmp_path / f"{name}_check.py").write_text(checker)
    trace = tmp_path / f"{name}.trace"
    recorded = powercut("record", "--workload", "command", "-o", str(trace), "--",
                        sys.executable, "-m", f"{name}_writer", "{mnt}", how, cwd=tmp_path)
    assert recorded.returncode == 0, recorded.stderr
    report = tmp_path / "result.json"
    explored = powercut("explore", str(trace), "--check-cmd",
                        f"{sys.executable} -m {name}_check {{dir}} {{markers}}",
                        "--workers", "2", "--json", str(report), *explore_args, cwd=tmp_path)
    return trace, explored, json.loads(report.read_text())
