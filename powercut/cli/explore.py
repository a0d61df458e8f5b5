"""`powercut explore TRACE`: check every crash state of a trace and report the vulnerabilities.

A thin door over `drive.explore`: parse options, build the model and the
checker, run the exploration with a live progress bar (stderr, only on a
terminal), then hand the result to the analysis and the reports. Exit
status: 0 no vulnerability, 1 vulnerabilities found, 2 bad usage or input,
130 interrupted (after reporting what was judged). It must hold no logic
the library does not expose.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from powercut import targets
from powercut.cli import options
from powercut.errors import PowercutError
from powercut.explorer.analysis.grouping import find_vulnerabilities
from powercut.explorer.checkers import DEFAULT_TIMEOUT, Checker
from powercut.explorer.report.files import write_text_atomic
from powercut.explorer.report.htmlfile import write_html
from powercut.explorer.report.jsonfile import write_json
from powercut.explorer.report.lazyfs import write_lazyfs_dir
from powercut.explorer.report.progress import LiveProgress
from powercut.explorer.report.terminal import render_terminal
from powercut.explorer.run.drive import explore
from powercut.explorer.store.cache import ResultsCache, default_cache_dir
from powercut.explorer.store.journal import JournalError, open_journal
from powercut.replayer.models import DEFAULT_MODEL, MODELS, get_model
from powercut.trace import Trace, open_trace


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
                 timeout: float) -> Checker:
    """The checker `name` from its target (default: `command` when --check-cmd is given,
    else the one the target of the trace's workload names), with its options."""
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


@options.attach("explore")
@click.command("explore")
@click.argument("trace_path", metavar="TRACE", type=click.Path(dir_okay=False))
@click.option("--checker", "checker_name", type=click.Choice(targets.checker_names()),
              help="How a crash state is judged [default: command with --check-cmd, else the "
              "checker of the target that recorded the trace].")
@click.option("--model", default=DEFAULT_MODEL, type=click.Choice(sorted(MODELS)),
              show_default=True, help="Persistence model.")
@click.option("--page-size", type=int, help="Page size of the model (default: the trace's).")
@click.option("--workers", type=click.IntRange(min=1), help="States checked at once "
              "(default: the number of CPUs).")
@click.option("--max-states", type=int, help="Bound on the states of one crash point.")
@click.option("--points", help="Only these crash points: A:B (inclusive), A:, :B or N.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds a state has to recover before it is a hang.")
@click.option("--prefix", is_flag=True, help="Use the valid prefix of a trace cut short.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write a JSON report.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write an HTML report.")
@click.option("--lazyfs-dir", type=click.Path(file_okay=False),
              help="Write one LazyFS fault config per vulnerability here.")
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False),
              help="Journal of verdicts, durable as they arrive [default: the --json or "
              "trace path with .journal, removed once the exploration completes].")
@click.option("--resume", is_flag=True, help="Continue an exploration that was stopped or "
              "killed: states its journal judged are not checked again.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Where states are checked: threads here, or a Dask "
              "cluster (workers need powercut and the checker's program).")
@click.option("--scheduler", help="Dask scheduler address (tcp://HOST:8786) for --executor "
              "dask [default: a local cluster of --workers processes].")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Results cache: verdicts kept across explorations, by state content and "
              "checker [default: $POWERCUT_CACHE_DIR or ~/.cache/powercut].")
@click.option("--no-cache", is_flag=True, help="Check every distinct state, reusing and "
              "keeping no cached verdict.")
@click.option("--dry-run", is_flag=True, help="Enumerate without checking; the document "
              "goes to --json (or stdout).")
def explore_command(trace_path: str, checker_name: str | None, model: str,
                    page_size: int | None,
                    workers: int | None, max_states: int | None, points: str | None,
                    timeout: float, prefix: bool, json_path: str | None, html_path: str | None,
                    lazyfs_dir: str | None, journal_path: str | None, resume: bool,
                    executor: str, scheduler: str | None, cache_dir: str | None,
                    no_cache: bool, dry_run: bool, **target_options: Any) -> int:
    """Check every crash state of TRACE and report the ones it cannot recover from."""
    trace = open_trace(trace_path, allow_prefix=prefix)
    persistence = get_model(model, page_size or trace.page_size)
    wanted = parse_points(points, trace.op_count)
    if dry_run:
        from powercut.replayer.enumeration.dry_run import dry_run as enumerate_only

        document = enumerate_only(trace, persistence, max_states=max_states, points=wanted)
        _write_document(document, json_path)
        return 0
    for option, target in (("--json", json_path), ("--html", html_path)):
        if target is not None and not Path(target).resolve().parent.is_dir():
            raise PowercutError(f"{option} {target}: its directory does not exist")
    checker = make_checker(trace, checker_name, target_options, timeout=timeout)
    journal_file = Path(journal_path or Path(json_path or trace_path).with_suffix(".journal"))
    if journal_file.resolve() in {Path(p).resolve() for p in (trace_path, json_path, html_path)
                                  if p is not None}:
        raise PowercutError(f"the journal {journal_file} would overwrite an input or a report; "
                            "name another with --journal PATH")
    if scheduler is not None and executor != "dask":
        raise PowercutError("--scheduler goes with --executor dask")
    if no_cache and cache_dir is not None:
        raise PowercutError("--cache and --no-cache contradict each other; give one")
    checker_id = checker.identity()  # what a verdict depends on besides the state
    with (checker, open_journal(journal_file, checker_id, resume=resume) as journal,
          _open_cache(cache_dir, checker_id, disabled=no_cache) as cache):
        if resume:
            other = (f" ({journal.others} judged by another checker or timeout are not "
                     "reused)" if journal.others else "")
            click.echo(f"powercut: resuming from {journal_file}: {journal.loaded} states "
                       f"already judged{other}", err=True)
        with _terminate_as_interrupt(), LiveProgress(sys.stderr) as progress:
            exploration = explore(trace, checker, persistence,
                                  workers=workers or os.cpu_count(), max_states=max_states,
                                  points=wanted, on_progress=progress, journal=journal,
                                  cache=cache, executor=executor, scheduler=scheduler)
        if cache is not None and cache.problem:
            click.echo(f"powercut: warning: the results cache stopped keeping verdicts: "
                       f"{cache.problem}", err=True)
    if exploration.reused and not resume:
        click.echo(f"powercut: {exploration.reused} of {exploration.distinct} distinct states "
                   f"judged from the results cache (--no-cache checks them again)", err=True)
    vulns = find_vulnerabilities(exploration)
    render_terminal(exploration, vulns)
    if json_path is not None:
        write_json(json_path, exploration, vulns)
    if html_path is not None:
        write_html(html_path, exploration, vulns)
    if lazyfs_dir is not None:
        write_lazyfs_dir(lazyfs_dir, exploration, vulns)
    if exploration.interrupted:
        click.echo("powercut: interrupted; the report covers the states judged so far; "
                   f"--resume continues from {journal_file}", err=True)
        return 130
    if journal_path is None:
        journal_file.unlink(missing_ok=True)  # reported: a default journal has nothing to resume
    return 1 if vulns else 0


@contextmanager
def _open_cache(directory: str | None, checker_id: str, *,
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
def _terminate_as_interrupt() -> Iterator[None]:
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


def _write_document(document: dict[str, Any], json_path: str | None) -> None:
    text = json.dumps(document, indent=1) + "\n"
    if json_path is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(json_path, text, "dry-run document")


COMMANDS: list[click.Command] = [explore_command]
