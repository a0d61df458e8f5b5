"""What a checker reports reaches the report intact: data-loss lines and its own failures.

A `--check-cmd` may report lost acknowledged writes with a JSON line
`{"verdict": "data-loss", "missing": [...]}` holding keys as plain strings
or as `{"key": ..., "value": ...}` objects (both documented); each must end
as a `data-loss` root cause naming the key, never as a checker error.
And a checker that breaks on a state (raises) must say in the report what
broke and where, not leave an empty excerpt.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from rich.console import Console

from powercut.explorer.checkers import Checker, CommandChecker
from powercut.explorer.checkers.errors import error_verdict
from powercut.explorer.exploration import Exploration
from powercut.explorer.report.jsonfile import to_json_dict
from powercut.explorer.report.terminal import print_report
from powercut.explorer.run.drive import explore
from powercut.explorer.verdict import Verdict
from powercut.trace import Op, TraceWriter

CHECK = '''
import json, os, sys
state, markers, form = sys.argv[1], sys.argv[2], sys.argv[3]
acked = [json.loads(line) for line in open(markers)]
path = os.path.join(state, "f")
found = open(path).read() if os.path.exists(path) else ""
lost = [m for m in acked if m.get("key") and m["value"] not in found]
if lost:
    missing = ([m["key"] for m in lost] if form == "strings"
               else [{"key": m["key"], "value": m["value"]} for m in lost])
    print(json.dumps({"verdict": "data-loss", "missing": missing}))
    sys.exit(1)
'''


def acknowledged_before_fsync(path: Path) -> Path:
    """`f` gets v3, k003 is acknowledged, and only then is f fsynced."""
    with TraceWriter(path, argv=["test"], workload={"name": "command"}) as w:
        w.append("create", 1, path="f", mode=0o644)
        w.append("write", 1, path="f", offset=0, data=b"v3")
        w.append("marker", 1, text="ack", key="k003", value="v3")
        w.append("fsync", 1, path="f", datasync=False)
    return path


@pytest.mark.parametrize("form", ["strings", "objects"])
def test_a_data_loss_line_in_either_form_is_data_loss(tmp_path: Path, form: str) -> None:
    (tmp_path / "check.py").write_text(CHECK)
    trace = acknowledged_before_fsync(tmp_path / "t.trace")
    checker = CommandChecker(f"{sys.executable} {tmp_path / 'check.py'} {{dir}} {{markers}} "
                             f"{form}")
    exploration = explore(trace, checker, "lazyfs", workers=2)
    kinds = {j.state.point: j.outcome.verdict for j in exploration.judged if j.outcome.failing}
    assert kinds == {2: "data-loss"}, [j.outcome for j in exploration.judged]
    lost = exploration.verdict(next(j.state.key for j in exploration.judged
                                    if j.outcome.failing))
    assert lost is not None and lost.signature == "acknowledged keys missing"
    assert [m.key for m in lost.evidence.missing] == ["k003"]
    assert [(c.verdict, c.missing) for c in exploration.causes] == [("data-loss", ("k003",))]
    document = to_json_dict(exploration)
    assert document["causes"][0]["missing"] == ["k003"]
    print_report(exploration, Console(file=io.StringIO()))


class Broken(Checker):
    """A checker with a bug that shows on one state."""

    def describe(self) -> str:
        return "broken"

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        if (directory / "f").exists():
            raise ValueError(f"cannot parse {directory / 'f'}")
        return Verdict("ok")


def test_a_checker_that_raises_says_what_and_where(tmp_path: Path) -> None:
    with TraceWriter(tmp_path / "t.trace", argv=["t"], workload={"name": "command"}) as w:
        w.append("create", 1, path="f", mode=0o644)
    exploration: Exploration = explore(tmp_path / "t.trace", Broken(), "lazyfs", workers=1)
    errors = [exploration.verdict(j.state.key) for j in exploration.judged
              if j.outcome.verdict == "error"]
    assert len(errors) == 1
    error = errors[0]
    assert error is not None
    assert error.signature == "checker error: ValueError"
    assert error.excerpt.startswith("ValueError: cannot parse ")
    assert f"{Path(__file__).name}:" in error.excerpt  # the line that raised
    assert error.evidence.exception == "ValueError"
    assert error.evidence.where.startswith(f"{__file__}:")
    assert error.evidence.attempts == 2  # retried once, as any broken check
    assert exploration.causes == []  # an error is no finding about the program
    shown = json.dumps(to_json_dict(exploration))
    assert "cannot parse" in shown and "test_checker_errors.py:" in shown


def test_error_verdict_names_the_innermost_frame() -> None:
    def inner() -> None:
        raise KeyError("k")

    try:
        inner()
    except KeyError as e:
        verdict = error_verdict(e)
    line = inner.__code__.co_firstlineno + 1
    assert verdict.verdict == "error"
    assert verdict.signature == "checker error: KeyError"
    assert verdict.evidence.where == f"{__file__}:{line} in inner"
    assert verdict.excerpt == f"KeyError: 'k'\n  at {Path(__file__).name}:{line} in inner"
    assert verdict.evidence.error == "'k'" and verdict.evidence.worker_died is True
