"""The live progress display counts right and stays out of pipes and CI logs."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from powercut.explorer.report.progress import LiveProgress
from tests.synthetic import etcd_like


@dataclass
class Snapshot:
    enumerated: int
    distinct: int
    judged: int
    failing: int
    enumeration_done: bool
    planned: int | None = None
    phase: str = "checking"


def test_not_a_terminal_draws_nothing_but_counts(tmp_path: Path) -> None:
    out = io.StringIO()
    with LiveProgress(out) as progress:
        etcd_like(tmp_path, on_progress=progress).close()
    assert out.getvalue() == ""
    assert (progress.enumerated, progress.failing) == (21, 13)
    assert progress.first_failure_at is not None
    assert progress.status == "minimising 13 failing states to their root causes"


def test_ci_disables_the_display_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("CI", "true")
    assert not LiveProgress(Terminal()).enabled
    monkeypatch.delenv("CI")
    assert LiveProgress(Terminal()).enabled


def test_driver_snapshots_and_a_drawn_bar_that_goes_away() -> None:
    out = io.StringIO()
    with LiveProgress(out, enabled=True) as progress:
        progress(Snapshot(10, 8, 3, 0, False))
        assert progress.total is None and progress.first_failure_at is None
        progress(Snapshot(15, 9, 5, 0, False, planned=30))
        assert progress.total == 30  # the plan's estimate until enumeration ends
        progress(Snapshot(20, 12, 12, 2, True))
        progress(Snapshot(20, 12, 12, 2, True, phase="minimising"))
        assert progress.status.startswith("minimising")
    assert progress.total == 12 and progress.failing == 2
    assert progress.first_failure_at is not None
    assert "checking" in out.getvalue()
