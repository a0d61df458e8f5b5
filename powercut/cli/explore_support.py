"""What `powercut explore` needs besides its options: parsing, the checker, the cache, signals.

Kept apart from `explore.py` so the command itself reads as its options and
its steps. No exploration logic lives here.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from powercut import targets
from powercut.cli import options
from powercut.errors import PowercutError
from powercut.explorer.checkers import Checker
from powercut.explorer.checkers.kernel import on_kernel
from powercut.explorer.store.cache import ResultsCache, default_cache_dir
from powercut.explorer.store.journal import JournalError
from powercut.replayer.enumeration import DEFAULT_BUDGET
from powercut.trace import Trace


def parse_points(text: str | None, op_count: int) -> range | None:
    """`A:B` (inclusive), `A:`, `:B` or `N` as a range of crash points (-1 is before the first)."""
    if text is None:
        return None
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            start = int(a) if a.strip() else -1
            stop = int(b) if b.strip() else op_count - 1
        else:
            start = stop = int(text)
    except ValueError:
        raise PowercutError(f"--points {text!r}: expected A:B, A:, :B or N "
                            "(crash point numbers, inclusive)") from None
    if stop < start:
        raise PowercutError(f"--points {text!r}: {stop} comes before {start}")
    return range(start, stop + 1)


def make_checker(trace: Trace, name: str | None, values: dict[str, Any], *,
                 timeout: float, fsck: bool = False) -> Checker:
    """The checker `name` from its target (default: `command` when --check-cmd is given,
    else the one the target of the trace's workload names), with its options; on the
    kernel's recovery of each crash image for a trace recorded with `--fs`."""
    return on_kernel(_target_checker(trace, name, values, timeout=timeout), trace, fsck=fsck)


def _target_checker(trace: Trace, name: str | None, values: dict[str, Any], *,
                    timeout: float) -> Checker:
    if name is None:
        if values.get("check_cmd") is not None:
            name = "command"
        else:
            recorded = str(trace.workload.get("name") or "")
            try:
                name = targets.for_workload(recorded).checker_for(trace)
            except PowercutError:
                raise PowercutError(f"the trace was recorded with workload {recorded!r}, which "
                                    "no target judges; pass --checker NAME (or --check-cmd)"
                                    ) from None
    target = targets.for_checker(name)
    return target.checker(name, trace, options.chosen("explore", values, name), timeout=timeout)


def default_budget(trace: Trace) -> int:
    """The `--budget` when none is given: the trace's target's own, else the engine's."""
    try:
        target = targets.for_workload(str(trace.workload.get("name") or ""))
    except PowercutError:
        return DEFAULT_BUDGET
    return target.default_budget or DEFAULT_BUDGET


def parse_coverage(text: str | None) -> float | None:
    """`--min-coverage`: a share of the legal states, `0.9` or `90%`."""
    if text is None:
        return None
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise PowercutError(f"--min-coverage {text!r}: expected a share such as 0.9 or 90%")
    return value


@contextmanager
def open_cache(directory: str | None, checker_id: str, *,
                disabled: bool) -> Iterator[ResultsCache | None]:
    """The results cache, or None with --no-cache (or, with a warning, when the default
    location cannot be used: only an explicit --cache DIR that fails is an error)."""
    if disabled:
        yield None
        return
    try:
        cache = ResultsCache.open(directory or default_cache_dir(), checker_id)
    except JournalError as e:
        if directory is not None:
            raise
        click.echo(f"powercut: warning: exploring without a results cache: {e}", err=True)
        yield None
        return
    with cache:
        yield cache


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop an exploration as Ctrl-C does, so its checkers' programs are
    killed too.

    The checkers' children run in their own sessions (a terminal's Ctrl-C
    never reaches them); only the driver can end them, so it must get the
    chance to.
    """
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


