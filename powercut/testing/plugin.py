"""The pytest plugin (entry point `pytest11`): fixtures for crash tests in any project.

- `powercut_record`: records a workload once (see `powercut.testing.record`),
  the traces kept in `--powercut-traces DIR` or the results cache directory;
- `powercut_check`: `powercut.testing.check`, for symmetry;
- `crash_dir`: a fresh empty directory for one state;
- `powercut_cleanup`, opt-in (`@pytest.mark.usefixtures("powercut_cleanup")`):
  after the test, whatever powercut started during it and left running is
  killed. Only powercut's own children: the plugin loads in every project
  that installs powercut, and another project's processes are never its
  business.

A failing hypothesis example prints as a `CrashCase` whose repr is the
`powercut replay` command that rebuilds the state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from powercut import process
from powercut.testing.runs import check, record
from powercut.trace import Trace


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--powercut-traces", default=None, metavar="DIR",
                     help="where powercut_record keeps recorded traces [default: the results "
                     "cache directory, traces/]")


@pytest.fixture(scope="session")
def powercut_record(request: pytest.FixtureRequest) -> Callable[..., Trace]:
    """Record a workload once per name, options and command (`powercut.testing.record`)."""
    where = request.config.getoption("--powercut-traces")

    def recorder(workload: str, **kw: Any) -> Trace:
        if where is not None:
            kw.setdefault("cache_dir", Path(where))
        return record(workload, **kw)

    return recorder


@pytest.fixture
def powercut_check() -> Callable[..., Any]:
    return check


@pytest.fixture
def crash_dir(tmp_path: Path) -> Path:
    """An empty directory to materialise one crash state into."""
    target = tmp_path / "crash-state"
    target.mkdir()
    return target


@pytest.fixture
def powercut_cleanup() -> Iterator[None]:
    """After the test, end the programs powercut started during it that still run."""
    before = process.running()
    yield
    process.kill(process.running() - before)
