"""The session guard: a selected test that needs a missing real part stops the run.

Runs pytest itself on a few tests of this suite with parts pretended
missing: a laptop without FUSE or etcd runs `-m "not fuse and not etcd"`,
but selecting a test that needs a missing part is a usage error before any
test runs, and under CI every part is needed whatever is selected.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.realparts import PRETEND_MISSING, REPO

UNMARKED = "tests/test_markers.py::test_text_and_json_lines"
NEEDS_FUSE = "tests/test_markers.py::test_markers_in_order_and_control_dir_virtual"
NEEDS_ETCD = "tests/test_cluster.py"
NEEDS_REDIS = "targets/redis/tests/test_redis.py"


def pytest_run(*args: str, missing: str, ci: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env[PRETEND_MISSING] = missing
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_without_fuse_and_etcd_the_rest_runs() -> None:
    done = pytest_run("-m", "not fuse and not etcd", "tests/test_markers.py", NEEDS_ETCD,
                      missing="fuse,etcd")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout and "deselected" in done.stdout


@pytest.mark.parametrize(("selected", "missing", "says"), [
    (NEEDS_FUSE, "fuse", "/dev/fuse does not exist"),
    (NEEDS_ETCD, "etcd", "etcd is pretended missing"),
    (NEEDS_REDIS, "redis", "redis is pretended missing"),
])
def test_a_selected_test_needing_a_missing_part_stops_the_run(selected: str, missing: str,
                                                              says: str) -> None:
    done = pytest_run(UNMARKED, selected, missing=missing)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert says in done.stderr and "passed" not in done.stdout


def test_under_ci_every_part_is_needed() -> None:
    done = pytest_run(UNMARKED, missing="fuse", ci=True)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "/dev/fuse does not exist" in done.stderr
