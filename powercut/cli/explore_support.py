"""What `powercut explore` needs besides its options: parsing, reports, signals.

Kept apart from `explore.py` so the command itself reads as its options and
its steps. No exploration logic lives here: the session owns it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import click

from powercut.errors import PowercutError
from powercut.explorer.report.htmlfile import write_html, write_models_html
from powercut.explorer.report.jsonfile import write_json
from powercut.explorer.report.lazyfs import write_lazyfs_dir
from powercut.explorer.report.models import print_models, write_models_json
from powercut.explorer.report.terminal import explain, make_console, print_report
from powercut.ranges import RangeError, parse_ranges
from powercut.session import Explored


def parse_points(text: str | None, op_count: int) -> range | list[int] | None:
    """`--points` in the one range syntax (`N`, `A-B`, `A-`, lists of them; -1 is before the
    first operation) as the crash points it names."""
    if text is None:
        return None
    try:
        return parse_ranges(text, last=op_count - 1)
    except RangeError as e:
        raise PowercutError(f"--points {text!r}: {e}; expected N, A-B, A- or a list of them "
                            "(crash point numbers, inclusive; -1 is before the first op)"
                            ) from None


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


def report(found: Explored, explain_which: str | None, json_path: str | None,
           html_path: str | None, lazyfs_dir: str | None) -> None:
    """Print the report and write the files asked for (one model, or several compared)."""
    explorations = found.explorations
    if len(explorations) == 1:
        print_report(explorations[0])
        if json_path is not None:
            write_json(json_path, explorations[0])
        if html_path is not None:
            write_html(html_path, explorations[0])
    else:
        print_models(explorations, make_console())
        if json_path is not None:
            write_models_json(json_path, explorations)
        if html_path is not None:
            write_models_html(html_path, explorations, found.causes)
    if explain_which is not None:
        chosen = found.cause(explain_which)
        if chosen is None:
            click.echo(f"powercut: --explain {explain_which}: there is no root cause "
                       f"{explain_which} (1-{len(found.causes)} or an id)", err=True)
        else:
            explain(*chosen)
    lazy = next((e for e in explorations if e.model == "lazyfs"), explorations[0])
    if lazyfs_dir is not None:
        write_lazyfs_dir(lazyfs_dir, lazy)


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
