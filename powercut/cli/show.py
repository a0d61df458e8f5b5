"""`powercut show`: print a trace's header summary and its operations.

A thin door over `trace_view`. Output piped into `head` must not end in a
traceback: a closed pipe just ends the listing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console

from powercut.explorer.report.trace_view import OpFilter, render
from powercut.trace import open_trace

PIPE_WIDTH = 160  # rich would assume 80 columns when not on a terminal


@click.command("show")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--prefix", is_flag=True, help="Show the valid prefix of a trace cut short.")
@click.option("--ops", "ops", metavar="RANGES", default=None,
              help="Only these operations: N, A-B (inclusive), A- (to the last) or a list "
              "of them (3,7-9).")
@click.option("--path", "path_glob", metavar="GLOB", default=None,
              help="Only operations on a path matching GLOB (e.g. 'data/*.log').")
@click.option("--full", is_flag=True, help="Show markers' text and fields whole (the table "
              "cuts them at 60 characters).")
def show_command(trace: Path, prefix: bool, ops: str | None, path_glob: str | None,
                 full: bool) -> None:
    """Show a recorded trace: header summary and a timeline of its operations."""
    keep = OpFilter.parse(ops, path_glob)
    checked = open_trace(trace, allow_prefix=prefix)
    console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
    try:
        for renderable in render(checked, keep, full):
            console.print(renderable)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's
        # final flush from raising again on the dead pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


COMMANDS: list[click.Command] = [show_command]
