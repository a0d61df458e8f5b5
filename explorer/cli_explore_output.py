"""What `powercut explore` shows while and after it runs, when the report modules do not.

`progress_display` is a rich progress bar on stderr, shown only on a
terminal (never mixed into a pipe or a file); `plain_summary` is the short
text printed when no terminal report renderer is installed; `find_reporter`
looks a report function up by name among the `report_*` modules. Nothing
here changes what an exploration finds.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import powercut.explorer
from powercut.explorer.drive import Progress
from powercut.explorer.verdict import Exploration


def find_reporter(name: str) -> Callable[..., Any] | None:
    """The function `name` of a `powercut.explorer.report_*` module, if one has it."""
    for module in pkgutil.iter_modules(powercut.explorer.__path__):
        if not module.name.startswith("report"):
            continue
        found = getattr(importlib.import_module(f"powercut.explorer.{module.name}"), name, None)
        if callable(found):
            return found
    return None


@contextmanager
def progress_display(stream: IO[str]) -> Iterator[Callable[[Progress], None] | None]:
    """A progress callback drawing a bar on `stream` if it is a terminal, else None."""
    if not stream.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
              TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
              console=Console(file=stream), transient=True)
    task = bar.add_task("check", total=None, status="")

    def update(p: Progress) -> None:
        bar.update(task, completed=p.checked, total=p.distinct if p.enumeration_done else None,
                   status=f"{p.failing} failing, {p.crash_points} crash points"
                          f"{'' if p.enumeration_done else ' so far'}")

    with bar:
        yield update


def plain_summary(exploration: Exploration, vulns: list[Any]) -> str:
    kinds = Counter(j.verdict.kind for j in exploration.judged)
    signatures = Counter(j.verdict.signature for j in exploration.judged
                         if j.verdict.failing and not j.state.duplicate)
    lines = [
        f"{exploration.trace}: {len(exploration.crash_points)} crash points, "
        f"{exploration.enumerated} states, {exploration.distinct} distinct, "
        f"{exploration.checked} checked with {exploration.checker} "
        f"in {exploration.elapsed:.1f}s ({exploration.workers} workers)",
        "verdicts: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
    ]
    lines += [f"  {n} x {sig}" for sig, n in signatures.most_common()]
    lines.append(f"{len(vulns)} vulnerabilities" if vulns else "no vulnerability found")
    return "\n".join(lines)
