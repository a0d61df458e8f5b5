"""The registry of targets: every program powercut knows how to run and judge.

Each subpackage of `powercut.targets` that defines `TARGET` (a
`base.Target`) is one target, found by scanning this package; adding a
target means adding one folder (and its tests). Programs outside the
project can register through the `powercut.targets` entry point group.
The engine asks this registry by workload or checker name and never names
a target itself.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from importlib.metadata import entry_points

from powercut.errors import PowercutError
from powercut.targets.base import Option, Target

__all__ = ["Option", "Target", "all_targets", "checker_names", "default_workload",
           "for_checker", "for_workload", "workload_names"]


@functools.cache
def all_targets() -> dict[str, Target]:
    """Every target, by name (the project's own folders, then entry points)."""
    found: dict[str, Target] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        target = getattr(module, "TARGET", None)
        if isinstance(target, Target):
            found[target.name] = target
    for ep in entry_points(group="powercut.targets"):
        target = ep.load()
        if isinstance(target, Target) and target.name not in found:
            found[target.name] = target
    return found


def workload_names() -> list[str]:
    return [w for t in all_targets().values() for w in t.workloads]


def checker_names() -> list[str]:
    return [c for t in all_targets().values() for c in t.checkers]


def for_workload(name: str) -> Target:
    for target in all_targets().values():
        if name in target.workloads:
            return target
    raise PowercutError(f"unknown workload {name!r}; known: {', '.join(workload_names())}")


def for_checker(name: str) -> Target:
    for target in all_targets().values():
        if name in target.checkers:
            return target
    raise PowercutError(f"unknown checker {name!r}; known: {', '.join(checker_names())}")


def default_workload() -> str | None:
    """The workload `powercut record` runs when given neither --workload nor a command."""
    for target in all_targets().values():
        if target.default_workload and target.workloads:
            return target.workloads[0]
    return None


def options() -> list[tuple[Target, Option]]:
    """Every target's command-line options, with their targets."""
    return [(t, o) for t in all_targets().values() for o in t.options]
