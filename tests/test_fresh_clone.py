"""A clone in any folder works: the committed traces name no path of the recording machine.

The repository is copied to a folder with another name and installed apart
(not editable, into a target dir), and `powercut explore` runs from a third
folder on the copy's committed traces: the etcd each was recorded with is
found by its version, wherever the copy lives. Then a few of the copy's own
tests run from the copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from tests.realparts import REPO

IGNORE = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", "build", "out",
                                ".hypothesis", ".ruff_cache", "*.journal")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("elsewhere")
    copy = base / "another checkout"
    shutil.copytree(REPO, copy, ignore=IGNORE)
    site = base / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(site), str(copy)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import powercut; print(powercut.__file__)"],
                           capture_output=True, text=True, env=env, cwd=base, timeout=60)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    return copy, env


@pytest.mark.etcd
@pytest.mark.parametrize("name", ["etcd-3.4-bootstrap.trace", "etcd-3.5-bootstrap.trace"])
def test_explore_a_committed_trace_of_a_clone_elsewhere(clone: tuple[Path, dict[str, str]],
                                                        tmp_path: Path, name: str) -> None:
    copy, env = clone
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "powercut", "explore", str(copy / "traces" / name),
         "--points", "8", "--no-cache", "--json", str(report)],
        capture_output=True, text=True, env={**env, "CI": "true"}, cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads(report.read_text())
    assert [c["kind"] for c in doc["causes"]] == ["torn-write"]


def moved(trace: Path, to: Path) -> Path:
    """A copy of `trace` whose header names an etcd at a path that exists nowhere here (as a
    trace recorded on another machine does), signed again."""
    with open(trace, "rb") as f:
        records = list(msgpack.Unpacker(f, raw=False))
    header, *ops, footer = records
    header["workload"]["etcd_bin"] = "/elsewhere/checkout/.venv/etcdbin/etcd"
    body = b"".join(msgpack.packb(r, use_bin_type=True) for r in [header, *ops])
    footer["digest"] = "sha256:" + hashlib.sha256(body).hexdigest()
    to.write_bytes(body + msgpack.packb(footer, use_bin_type=True))
    return to


@pytest.mark.etcd
def test_a_trace_recorded_elsewhere_finds_its_etcd_by_version(tmp_path: Path) -> None:
    trace = moved(REPO / "traces" / "etcd-3.4-bootstrap.trace", tmp_path / "moved.trace")
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "powercut", "explore", str(trace), "--points", "8",
         "--no-cache", "--json", str(report)],
        capture_output=True, text=True, env={**os.environ, "CI": "true"}, cwd=tmp_path,
        timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads(report.read_text())
    assert "3.4.23" in doc["checker"] and "/elsewhere" not in doc["checker"]


@pytest.mark.etcd
def test_the_clones_own_tests_pass_from_the_clone(clone: tuple[Path, dict[str, str]]) -> None:
    copy, env = clone
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_layout.py", "tests/test_checker_etcd.py", "tests/test_replay_cli.py"],
        capture_output=True, text=True, env=env, cwd=copy, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
