"""The command checker: exit status is the verdict, a hang is killed with its whole group."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from powercut.errors import CheckerError
from powercut.explorer.checkers import CommandChecker
from powercut.process import group_members, live_children
from powercut.trace import Op


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_exit_zero_is_ok(tmp_path: Path) -> None:
    verdict = CommandChecker("test -d {dir}").check(tmp_path, [])
    assert verdict.verdict == "ok"
    assert verdict.exit_status == 0


def test_non_zero_exit_is_unrecoverable_with_last_line(tmp_path: Path) -> None:
    script = 'import sys; print("checking"); sys.exit("torn at 8192")'
    cmd = f"{sys.executable} -c '{script}' {{dir}}"
    verdict = CommandChecker(cmd).check(tmp_path, [])
    assert verdict.verdict == "unrecoverable"
    assert verdict.exit_status == 1
    assert verdict.signature == "torn at N"
    assert "checking" in verdict.log_tail


def test_signal_is_unrecoverable(tmp_path: Path) -> None:
    verdict = CommandChecker("sh -c 'kill -SEGV $$' {dir}").check(tmp_path, [])
    assert verdict.verdict == "unrecoverable"
    assert verdict.signal == 11
    assert verdict.signature == "killed by SIGSEGV"


def test_hang_is_killed_with_its_helpers(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    cmd = "sh -c 'echo $$ > {dir}/sh.pid; sleep 100 & echo $! > {dir}/sleep.pid; wait' {dir}"
    verdict = CommandChecker(cmd, timeout=2).check(state, [], scratch=tmp_path / "scratch")
    assert verdict.verdict == "hang"
    assert verdict.signature == "no answer within the timeout"
    pids = [int((state / name).read_text()) for name in ("sh.pid", "sleep.pid")]
    assert not [p for p in pids if _alive(p)]
    assert group_members(pids[0]) == []
    assert live_children() == 0


def test_sleep_100_hangs_and_leaves_no_process(tmp_path: Path) -> None:
    verdict = CommandChecker("sleep 100 {dir}", timeout=0.3).check(tmp_path, [])
    # `sleep 100 DIR` refuses the extra operand; a bare sleep is the hang case.
    assert verdict.verdict == "unrecoverable"
    verdict = CommandChecker("sh -c 'sleep 100' {dir}", timeout=0.3).check(tmp_path, [])
    assert verdict.verdict == "hang"
    assert live_children() == 0


def test_markers_file_holds_the_markers(tmp_path: Path) -> None:
    markers = [Op(seq=3, t_ns=1, pid=2, op="marker", text="put acknowledged",
                  extra={"key": "k", "value": "v"})]
    verdict = CommandChecker("cp {markers} {dir}/copy.jsonl").check(tmp_path, markers)
    assert verdict.verdict == "ok"
    copied = tmp_path / "copy.jsonl"
    records = [json.loads(line) for line in copied.read_text().splitlines()]
    assert records == [{"seq": 3, "text": "put acknowledged", "key": "k", "value": "v"}]


@pytest.mark.parametrize("cmd", ["true", "", "echo 'unclosed {dir}"])
def test_bad_check_cmd_is_one_clear_error(cmd: str) -> None:
    with pytest.raises(CheckerError, match="check-cmd"):
        CommandChecker(cmd)


def test_missing_program_is_a_checker_error(tmp_path: Path) -> None:
    with pytest.raises(CheckerError, match="cannot run"):
        CommandChecker("/nonexistent/checker {dir}").check(tmp_path, [])
    assert os.listdir(tmp_path) == []


def test_signal_after_output_names_the_signal(tmp_path: Path) -> None:
    verdict = CommandChecker("sh -c 'echo working on it; kill -KILL $$' {dir}").check(tmp_path, [])
    assert verdict.signature == "killed by SIGKILL"
    assert "working on it" in verdict.excerpt


def test_go_panic_from_a_command_is_its_cause(tmp_path: Path) -> None:
    panic = "panic: runtime error: index out of range [5] with length 3"
    script = f"printf '{panic}\\n\\ngoroutine 1:\\n'"
    verdict = CommandChecker(f"sh -c \"{script}; exit 2\" {{dir}}").check(tmp_path, [])
    assert verdict.signature == "runtime error: index out of range [N] with length N"
