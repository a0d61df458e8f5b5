"""The command-line options targets bring (a binary, a count, a command...).

Each target declares its options (`targets.base.Option`); this module adds
them to `record` and `explore` and, once the workload or checker is chosen,
refuses in one line an option that it does not take. Options of the same
flag from several targets are one option, taken by any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from powercut import targets
from powercut.errors import PowercutError


def _merged(command: str) -> dict[str, tuple[targets.Option, tuple[str, ...]]]:
    merged: dict[str, tuple[targets.Option, tuple[str, ...]]] = {}
    for _, option in targets.options():
        if command not in option.commands:
            continue
        first, used_by = merged.get(option.flag, (option, ()))
        merged[option.flag] = (first, used_by + option.used_by)
    return merged


def attach(*commands: str) -> Callable[[click.Command], click.Command]:
    """Add every target option of `commands` ("record", "explore", or both for a command
    that records and explores) to a click command, each flag once."""
    merged = {flag: found for command in reversed(commands)
              for flag, found in _merged(command).items()}

    def decorate(cmd: click.Command) -> click.Command:
        for option, _ in merged.values():
            kind = option.type
            if kind is int and "min" in option.kwargs:
                kind = click.IntRange(min=option.kwargs["min"])
            cmd.params.append(click.Option([option.flag], type=kind, default=None,
                                           metavar=option.metavar, help=option.help))
        return cmd
    return decorate


def chosen(command: str, values: Mapping[str, Any], user: str) -> dict[str, Any]:
    """The target options given, refusing one that `user` (a workload or checker) does not take."""
    given = {}
    for option, used_by in _merged(command).values():
        value = values.get(option.dest)
        if value is None:
            continue
        if user not in used_by:
            what = "--workload" if command == "record" else "--checker"
            raise PowercutError(f"{option.flag} goes with {what} "
                                f"{' or '.join(dict.fromkeys(used_by))}, not {user}")
        given[option.dest] = value
    return given

