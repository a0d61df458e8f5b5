"""The `command` checker: any program that judges a crash state by its exit status.

`--check-cmd 'CMD ... {dir}'` is split like a shell would (no shell runs
it); `{dir}` becomes the state directory and `{markers}` a file with the
markers recorded before the crash point, one JSON object a line, so a
checker written for ALICE (`checker <crashed_dir> <stdout_file>`) runs
unchanged. Exit 0 is ok, any other exit or a signal is unrecoverable, no
exit within the timeout is a hang. A failing command that prints a JSON line
`{"verdict": "data-loss", "missing": [...]}` reports lost acknowledged
writes instead (verdict `data-loss`, see `durability`). It must never run the command through a
shell or leave any of its processes behind.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from powercut.errors import CheckerError
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
    write_markers,
)
from powercut.explorer.verdict import Verdict
from powercut.process import Child, log_text
from powercut.trace import Op


def parse_check_cmd(command: str) -> list[str]:
    """The command's words, or a CheckerError saying what is wrong with it."""
    try:
        words = shlex.split(command)
    except ValueError as e:
        raise CheckerError(f"--check-cmd {command!r} cannot be split into words: {e}") from None
    if not words:
        raise CheckerError("--check-cmd is empty; give a command with {dir} in it")
    if not any("{dir}" in w for w in words):
        raise CheckerError(
            f"--check-cmd {command!r} has no {{dir}}; put {{dir}} where the crash state goes")
    return words


class CommandChecker(Checker):
    """Runs a user's command on each state; its exit status is the verdict."""

    name = "command"

    @property
    def uses_markers(self) -> bool:
        return "{markers}" in self.command

    def __init__(self, command: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.command = command
        self.words = parse_check_cmd(command)
        self.timeout = timeout

    def describe(self) -> str:
        return f"command: {self.command}"

    def identity(self) -> str:
        # The program and, for an interpreter's script (`python3 check.py {dir}`),
        # its first argument: editing the checker must not reuse its old verdicts.
        # Later words may be files the checker writes (a log); those must not count.
        program = shutil.which(self.words[0]) or self.words[0]
        script = self.words[1:2]
        files = [program, *(w for w in script if "{" not in w and os.path.isfile(w))]
        prints = " ".join(f"{os.path.abspath(f)}={file_fingerprint(f)}" for f in files)
        return f"{self.describe()} files=[{prints}] timeout={self.timeout:g}"

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        with scratch_dir(scratch) as work:
            markers_file = work / "markers.jsonl"
            argv = [w.replace("{dir}", str(directory)) for w in self.words]
            if any("{markers}" in w for w in argv):
                write_markers(markers, markers_file)
                argv = [w.replace("{markers}", str(markers_file)) for w in argv]
            try:
                child = Child(argv, work / "check.log")
            except OSError as e:
                raise CheckerError(f"cannot run --check-cmd {argv[0]!r}: {e.strerror}") from None
            with child:
                exit = child.wait(self.timeout)
                if exit is None:
                    child.kill()
                    return failure_verdict("hang", child, None)
                if exit.status == 0:
                    return Verdict("ok", exit_status=0, duration=child.elapsed,
                                   evidence={"argv": argv})
                lost = durability.reported_loss(log_text(child.log))
                if lost is not None:
                    return durability.data_loss(lost, child.elapsed, {"argv": argv})
                return failure_verdict("unrecoverable", child, exit)
