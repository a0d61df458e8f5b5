"""The exploration driver: each distinct state checked once, in order, in parallel, cleanly."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from powercut.errors import CheckerError
from powercut.explorer.checkers import Checker, CommandChecker
from powercut.explorer.run.drive import Progress, explore
from powercut.explorer.run.order import FIRST_WRITE, OTHER, TORN_WRITE, TraceFacts
from powercut.explorer.verdict import Verdict
from powercut.process import live_children
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models import get_model
from powercut.trace import Op, TraceWriter, open_trace

PAGE = 4096
OLD, NEW = b"A" * 3 * PAGE, b"B" * 3 * PAGE


def in_place_trace(path: Path) -> Path:
    """Overwrite a 3-page file in place, no fsync; then create and write a second file."""
    with TraceWriter(path, argv=["test"], workload={"kind": "command"},
                     initial=[{"path": "f", "kind": "file", "mode": 0o644, "data": OLD}]) as w:
        w.append("write", 1, path="f", offset=0, data=NEW)
        w.append("marker", 1, text="f updated", key="f")
        w.append("create", 1, path="g", mode=0o644)
        w.append("write", 1, path="g", offset=0, data=b"g")
    return path


class Recording(Checker):
    """A checker in Python that records what it was asked: torn `f` is unrecoverable."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, int]] = []
        self.lock = threading.Lock()
        self.timeout = 1.0

    def describe(self) -> str:
        return "recording"

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        data = (directory / "f").read_bytes()
        with self.lock:
            self.calls.append((data, len(markers)))
        if data in (OLD, NEW):
            return Verdict("ok")
        return Verdict("unrecoverable", signature="torn f")


def test_each_distinct_state_checked_once(tmp_path: Path) -> None:
    trace = in_place_trace(tmp_path / "t.trace")
    checker = Recording()
    exploration = explore(trace, checker, "lazyfs", workers=3, workdir=tmp_path / "work")
    enumerated = list(Enumeration(open_trace(trace), get_model("lazyfs", PAGE)))
    assert [j.state.key for j in exploration.judged] == [s.key for s in enumerated]
    assert [j.state.point for j in exploration.judged] == [s.point for s in enumerated]
    assert len(checker.calls) == exploration.checked == exploration.distinct
    assert exploration.distinct == len({s.key for s in enumerated}) < exploration.enumerated
    by_key = {j.state.key: j.outcome for j in exploration.judged if not j.state.duplicate}
    for j in exploration.judged:
        assert j.outcome == by_key[j.state.key]
        assert j.state.image is None
    torn = [j for j in exploration.judged if j.outcome.failing and not j.state.duplicate]
    # 6 torn subsets of f's pages (2**3 minus all-kept and all-lost), each with no g,
    # an empty g, and g with its page kept.
    assert len(torn) == 18
    assert not exploration.interrupted
    exploration.close()
    assert list((tmp_path / "work").iterdir()) == []


def test_markers_are_those_before_the_crash_point(tmp_path: Path) -> None:
    trace = in_place_trace(tmp_path / "t.trace")
    checker = Recording()
    explore(trace, checker, "lazyfs", workers=1, points=range(0, 1))
    assert {m for _, m in checker.calls} == {0}
    checker = Recording()
    explore(trace, checker, "lazyfs", workers=1, points=range(2, 3))
    assert {m for _, m in checker.calls} == {1}


def test_same_result_whatever_the_workers(tmp_path: Path) -> None:
    trace = in_place_trace(tmp_path / "t.trace")
    one = explore(trace, Recording(), "lazyfs", workers=1)
    four = explore(trace, Recording(), "lazyfs", workers=4)
    assert one.judged == four.judged
    assert (one.workers, four.workers) == (1, 4)


def test_torn_writes_are_checked_first(tmp_path: Path) -> None:
    trace = in_place_trace(tmp_path / "t.trace")
    checker = Recording()
    explore(trace, checker, "lazyfs", workers=1)
    # Every crash point's all-kept state first (4 distinct), then the torn ones.
    assert all(d in (OLD, NEW) for d, _ in checker.calls[:4])
    assert all(d not in (OLD, NEW) for d, _ in checker.calls[4:10])
    facts = TraceFacts.scan(open_trace(trace).ops(), PAGE)
    ranks = {(s.point, s.name.lost): facts.priority(s)[1]
             for s in Enumeration(open_trace(trace), get_model("lazyfs", PAGE))}
    assert ranks[(0, ("f:1",))] == TORN_WRITE
    assert ranks[(0, ())] == OTHER
    assert ranks[(3, ("f:1-2",))] == FIRST_WRITE


def test_interrupt_returns_partial_and_leaves_nothing(tmp_path: Path) -> None:
    trace = in_place_trace(tmp_path / "t.trace")
    seen: list[Progress] = []

    def stop_after_two(p: Progress) -> None:
        seen.append(p)
        if p.judged >= 2:
            raise KeyboardInterrupt

    checker = CommandChecker("sh -c 'sleep 0.2' {dir}", timeout=30)
    exploration = explore(trace, checker, "lazyfs", workers=2, workdir=tmp_path / "work",
                          on_progress=stop_after_two)
    assert exploration.interrupted
    assert 2 <= exploration.checked < 8
    assert all(j.outcome.verdict == "ok" for j in exploration.judged)
    exploration.close()
    assert list((tmp_path / "work").iterdir()) == []
    assert live_children() == 0


def test_checker_that_breaks_gives_error_verdicts(tmp_path: Path) -> None:
    class Broken(Recording):
        def check(self, directory: Path, markers: Sequence[Op], *,
                  scratch: Path | None = None) -> Verdict:
            raise ValueError("boom")

    exploration = explore(in_place_trace(tmp_path / "t.trace"), Broken(), "lazyfs", workers=2)
    assert {j.outcome.verdict for j in exploration.judged} == {"error"}
    assert exploration.judged[0].outcome.signature == "checker error: ValueError"


def test_broken_setup_stops_the_exploration(tmp_path: Path) -> None:
    checker = CommandChecker(f"{tmp_path}/missing-checker {{dir}}")
    with pytest.raises(CheckerError, match="cannot run"):
        explore(in_place_trace(tmp_path / "t.trace"), checker, "lazyfs", workers=2,
                workdir=tmp_path / "work")
    assert list((tmp_path / "work").iterdir()) == []
