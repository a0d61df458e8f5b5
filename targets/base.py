"""What a target is: a program powercut knows how to run and judge (Jepsen's suite, one per system).

A `Target` brings the workloads that record its program on a mount, the
checkers that judge a crash state of it, and the command-line options both
need (`Option`). The engine never names a program: the CLI and the driver
ask the registry (`powercut.targets`) for the target that owns a workload or
checker name, and a trace's header names the workload it was recorded with,
so `powercut explore TRACE` finds its checker with no option.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.trace import Trace

if TYPE_CHECKING:
    from powercut.targets.kit.program import Program


@dataclass(frozen=True)
class Option:
    """A command-line option a target adds to `record` and/or `explore`.

    `dest` is the keyword the target's factories receive; `used_by` names the
    workloads (for `record`) or checkers (for `explore`) that take it, so an
    option given to anything else is refused in one line.
    """

    flag: str
    help: str
    commands: tuple[str, ...]
    used_by: tuple[str, ...]
    type: Any = str
    metavar: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


class Target(abc.ABC):
    """One program under test: its workloads, its checkers and their options.

    What a target runs is declared, so that the tools around it learn it
    from the target's folder alone: `programs` (looked up by version and
    digest; `missing()` says in one line what is not installed, and the
    tests of a target need what it lists), and `processes`, the command
    names of what its workloads and checkers start (a test that leaves one
    running fails). A target whose one workload and one checker bear its
    name need not list them.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    workloads: ClassVar[tuple[str, ...]] = ()
    checkers: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[tuple[Option, ...]] = ()
    programs: ClassVar[tuple[Program, ...]] = ()
    processes: ClassVar[tuple[str, ...]] = ()
    # The workload `powercut record` runs when given neither --workload nor a command.
    default_workload: ClassVar[bool] = False
    # Distinct states `powercut explore` checks of this target's traces when --budget is not
    # given (None: the engine's default); a program slow to start on a large state asks fewer.
    default_budget: ClassVar[int | None] = None

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        name = cls.__dict__.get("name")
        if isinstance(name, str):
            cls.workloads = cls.__dict__.get("workloads", (name,))
            cls.checkers = cls.__dict__.get("checkers", (name,))

    @abc.abstractmethod
    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        """The workload `name` (one of `workloads`) with these option values."""

    def checker_for(self, trace: Trace) -> str:
        """The checker that judges a trace recorded with one of this target's workloads."""
        return self.checkers[0]

    @abc.abstractmethod
    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        """The checker `name` (one of `checkers`) for `trace`, with these option values."""

    def record_options(self, workload: Mapping[str, Any]) -> dict[str, Any]:
        """The options that record a trace's workload again, from its header (for emitted
        regression tests; paths of the recording machine are left out): by default each
        option of `record` the header (or its `settings`) holds under its name."""
        settings = workload.get("settings")
        settings = settings if isinstance(settings, Mapping) else {}
        chosen: dict[str, Any] = {}
        for option in self.options:
            if "record" not in option.commands or option.metavar == "PATH":
                continue
            value = workload.get(option.dest, settings.get(option.dest))
            if isinstance(value, bool):
                value = str(value).lower()
            if isinstance(value, int | str):
                chosen[option.dest] = value
        return chosen

    def missing(self) -> list[str]:
        """What this target needs that is not installed here, one line each (empty: none)."""
        return [why for program in self.programs if (why := program.problem()) is not None]
