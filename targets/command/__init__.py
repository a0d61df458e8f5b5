"""The `command` target: any program, recorded by a command and judged by a command.

`powercut record -- CMD ... {mnt} ...` records any command on the mount;
`powercut explore TRACE --check-cmd 'CMD ... {dir} [{markers}]'` judges
each crash state by a command's exit status (see
`powercut.explorer.checkers.command`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut.errors import PowercutError
from powercut.explorer.checkers.command import CommandChecker
from powercut.recorder.workload import Command, Workload
from powercut.targets.base import Option, Target
from powercut.trace import Trace


class CommandTarget(Target):
    name = "command"
    summary = "any program: a command records it, a command judges each crash state"
    options = (
        Option("--check-cmd", "Command judging a state: exit 0 is ok; {dir} is the state, "
               "{markers} a file of the markers recorded before the crash point.",
               ("explore",), ("command",)),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        return Command(tuple(command))

    def checker_for(self, trace: Trace) -> str:
        return "command"

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> CommandChecker:
        check_cmd = options.get("check_cmd")
        if check_cmd is None:
            raise PowercutError("--checker command needs --check-cmd 'CMD ... {dir}'")
        return CommandChecker(check_cmd, timeout=timeout)


TARGET = CommandTarget()
