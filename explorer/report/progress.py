"""A live progress display for an exploration, on stderr, only on a terminal.

`LiveProgress` is a context manager the driver feeds with its snapshots
(call it with an object that has `enumerated`, `distinct`, `judged`,
`failing` and `enumeration_done`, as `drive.Progress` does: it is a ready
`on_progress` callback). It shows states judged of distinct, failing so
far, and when the first failure was found.

It never disturbs the report it wraps: it draws on stderr, is transient
(gone when the block ends), and draws nothing at all when stderr is not a
terminal or CI is set. It only counts; it never changes an exploration.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import IO, Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar


class Snapshot(Protocol):
    enumerated: int
    distinct: int
    judged: int
    failing: int
    enumeration_done: bool
    planned: int | None
    phase: str


class LiveProgress:
    """Counts an exploration's progress and, on a terminal, draws it."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = self.stream.isatty() and not os.environ.get("CI")
        self.enabled = enabled
        self.total: int | None = None
        self.enumerated = self.distinct = self.judged = self.failing = 0
        self.first_failure_at: float | None = None  # seconds after the start
        self.phase = "checking"
        self._start = time.monotonic()
        self._bar: Bar | None = None
        self._task: Any = None

    def __enter__(self) -> LiveProgress:
        self._start = time.monotonic()
        if self.enabled:
            console = Console(file=self.stream, force_terminal=True)
            self._bar = Bar(
                TextColumn("[bold]checking"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._task = self._bar.add_task("check", total=self.total, status="")
            self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __call__(self, snapshot: Snapshot) -> None:
        """The driver's `on_progress` callback."""
        self.enumerated, self.distinct = snapshot.enumerated, snapshot.distinct
        self.judged = snapshot.judged
        self.phase = snapshot.phase
        if snapshot.enumeration_done:
            self.total = snapshot.distinct
        elif snapshot.planned is not None:
            self.total = max(snapshot.planned, snapshot.distinct)
        self._failed(snapshot.failing)
        self._draw()

    def _failed(self, failing: int) -> None:
        if failing and self.first_failure_at is None:
            self.first_failure_at = time.monotonic() - self._start
        self.failing = failing

    @property
    def status(self) -> str:
        if self.phase != "checking":
            return f"{self.phase} {self.failing} failing states to their root causes"
        text = f"{self.failing} failing"
        if self.first_failure_at is not None:
            text += f" (first after {self.first_failure_at:.0f}s)"
        if self.total is None:
            text += f", {self.distinct} distinct so far"
        return text

    def _draw(self) -> None:
        if self._bar is not None:
            self._bar.update(
                self._task, completed=self.judged, total=self.total, status=self.status
            )
