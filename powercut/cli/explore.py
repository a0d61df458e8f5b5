"""`powercut explore TRACE`: check the crash states of a trace and report their root causes.

A thin door over `powercut.session`: parse options, open a session (the
checker, the models, the budget, the journal and the cache), explore with
a live progress bar (stderr, only on a terminal), then write the reports.
Exit status (the session's, shared with `powercut.testing`): 0 no root
cause, 1 root causes found, 2 bad usage or input (or only checker errors),
4 coverage below `--min-coverage`, 130 interrupted (after reporting what
was judged). It must hold no logic the library does not expose.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from powercut import targets
from powercut.cli import options
from powercut.cli.diff import causes_of
from powercut.cli.explore_support import (
    parse_coverage,
    parse_points,
    report,
    terminate_as_interrupt,
)
from powercut.errors import PowercutError
from powercut.explorer.analysis import DEFAULT_CAUSE_BUDGET
from powercut.explorer.checkers import DEFAULT_TIMEOUT
from powercut.explorer.report.files import atomic_writer
from powercut.explorer.report.progress import LiveProgress
from powercut.replayer.enumeration import DEFAULT_BUDGET, Enumeration
from powercut.replayer.enumeration.dry_run import write_dry_run
from powercut.replayer.enumeration.plan import STRATEGIES
from powercut.replayer.models import (
    DEFAULT_MODEL,
    FSYNC_FAILURES,
    MODELS,
    get_model,
    parse_models,
)
from powercut.session import Session
from powercut.session.choice import checker_name, default_budget
from powercut.testing.emit import emit
from powercut.trace import Trace, open_trace


@options.attach("explore")
@click.command("explore")
@click.argument("trace_path", metavar="TRACE", type=click.Path(dir_okay=False))
@click.option("--checker", "checker_name_given", type=click.Choice(targets.checker_names()),
              help="How a crash state is judged [default: command with --check-cmd, else the "
              "checker of the target that recorded the trace].")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help=f"Persistence model, or several to compare ({','.join(MODELS)}).")
@click.option("--page-size", type=int, help="Page size of the model (default: the trace's).")
@click.option("--fsync-failure", type=click.Choice(FSYNC_FAILURES), default="keep",
              show_default=True, help="What a failed fsync (record --fail) leaves in the "
              "file: the new bytes, clean (keep: ext4, XFS), or the durable ones (revert: btrfs).")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="auto", show_default=True,
              help="Which states: exhaustive where a crash point fits its share of the budget, "
              "systematic classes beyond, random samples with the rest (auto); or one of them.")
@click.option("--budget", type=click.IntRange(min=1), help="Distinct states one exploration "
              f"checks at most (not for exhaustive) [default: {DEFAULT_BUDGET}, or the "
              "target's own].")
@click.option("--max-states", type=int, help="Bound on the states of one crash point.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of random samples.")
@click.option("--min-coverage", help="Exit 4 when less than this share of the legal states "
              "was explored (0.9 or 90%).")
@click.option("--points", help="Only these crash points: N, A-B (inclusive), A- (to the last) "
              "or a list of them (3,7-9); -1 is before the first operation.")
@click.option("--workers", type=click.IntRange(min=1), help="States checked at once "
              "(default: the number of CPUs).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds a state has to recover before it is a hang.")
@click.option("--full-hangs", is_flag=True, help="Wait the full --timeout for every hang "
              "(default: suspect one at ten times the slowest recovery seen, then confirm each "
              "hang cause once at the full timeout).")
@click.option("--cause-budget", type=click.IntRange(min=0), default=DEFAULT_CAUSE_BUDGET,
              show_default=True, help="Checks the minimisation of one root cause may spend.")
@click.option("--explain", "explain_which", metavar="N", help="Print root cause N (its number "
              "or id) in full after the report.")
@click.option("--prefix", is_flag=True, help="Use the valid prefix of a trace cut short.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write a JSON report.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write an HTML report.")
@click.option("--lazyfs-dir", type=click.Path(file_okay=False),
              help="Write one LazyFS fault config per root cause here.")
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
@click.option("--emit-tests", type=click.Path(file_okay=False), help="Write one pytest file "
              "per root cause here: a regression test that fails while the cause is there.")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="A JSON report of an earlier run: say which root causes are new.")
@click.option("--fail-on-new", is_flag=True, help="With --baseline: exit 1 only for root "
              "causes the baseline does not have (CI).")
@click.option("--dry-run", is_flag=True, help="Enumerate without checking; the document "
              "goes to --json (or stdout).")
@click.option("--fsck", is_flag=True, help="Kernel file-system traces: run the file "
              "system's read-only check on each recovered image, as evidence.")
def explore_command(trace_path: str, checker_name_given: str | None, model: str,
                    page_size: int | None, fsync_failure: str, strategy: str, budget: int | None,
                    max_states: int | None,
                    seed: int, min_coverage: str | None, points: str | None,
                    workers: int | None, timeout: float, full_hangs: bool,
                    cause_budget: int,
                    explain_which: str | None, prefix: bool, json_path: str | None,
                    html_path: str | None, lazyfs_dir: str | None, journal_path: str | None,
                    resume: bool, executor: str, scheduler: str | None, cache_dir: str | None,
                    no_cache: bool, emit_tests: str | None, baseline: Path | None,
                    fail_on_new: bool, dry_run: bool, fsck: bool,
                    **target_options: Any) -> int:
    """Check the crash states of TRACE and report the root causes it cannot recover from."""
    trace = open_trace(trace_path, allow_prefix=prefix)
    wanted = parse_points(points, trace.op_count)
    least = parse_coverage(min_coverage)
    if dry_run:
        return _dry_run(trace, model, page_size, wanted, json_path, strategy=strategy,
                        budget=budget, max_states=max_states, seed=seed)
    if fail_on_new and baseline is None:
        raise PowercutError("--fail-on-new needs --baseline REPORT")
    known = causes_of(baseline) if baseline is not None else None
    for option, target in (("--json", json_path), ("--html", html_path)):
        if target is not None and not Path(target).resolve().parent.is_dir():
            raise PowercutError(f"{option} {target}: its directory does not exist")
    journal_file = Path(journal_path or Path(json_path or trace_path).with_suffix(".journal"))
    if journal_file.resolve() in {Path(p).resolve() for p in (trace_path, json_path, html_path)
                                  if p is not None}:
        raise PowercutError(f"the journal {journal_file} would overwrite an input or a report; "
                            "name another with --journal PATH")
    if scheduler is not None and executor != "dask":
        raise PowercutError("--scheduler goes with --executor dask")
    if no_cache and cache_dir is not None:
        raise PowercutError("--cache and --no-cache contradict each other; give one")
    name = checker_name_given or checker_name(trace, target_options)
    session = Session.open(
        trace, checker=name, options=options.chosen("explore", target_options, name),
        timeout=timeout, fsck=fsck, models=model, page_size=page_size,
        fsync_failure=fsync_failure, strategy=strategy,
        budget=budget,
        max_states=max_states, seed=seed, points=wanted, workers=workers, executor=executor,
        scheduler=scheduler, cause_budget=cause_budget, early_hangs=not full_hangs,
        journal_path=journal_file, resume=resume, keep_journal=journal_path is not None,
        use_cache=not no_cache, cache_dir=Path(cache_dir) if cache_dir else None)
    with session:
        for warning in session.warnings:
            click.echo(f"powercut: warning: {warning}", err=True)
        if resume and session.journal is not None:
            journal = session.journal
            other = (f" ({journal.others} judged by another checker or timeout are not "
                     "reused)" if journal.others else "")
            click.echo(f"powercut: resuming from {journal_file}: {journal.loaded} states "
                       f"already judged{other}", err=True)
        with terminate_as_interrupt():
            found = session.explore(lambda: LiveProgress(sys.stderr))
        with found:
            for warning in session.warnings:
                click.echo(f"powercut: warning: {warning}", err=True)
            if found.from_cache:
                click.echo(f"powercut: {found.from_cache} of {found.distinct} distinct states "
                           "judged from the results cache (--no-cache checks them again)",
                           err=True)
            report(found, explain_which, json_path, html_path, lazyfs_dir)
            if emit_tests is not None:
                written = emit(emit_tests, trace, found.causes, checker=session.checker.name,
                               check_cmd=target_options.get("check_cmd"),
                               budget=session.budget)
                click.echo(f"powercut: {len(written)} regression tests written to {emit_tests}",
                           err=True)
            if known is not None:
                new = found.new(known)
                for c in new:
                    click.echo(f"powercut: new root cause {c.id} {c.kind}: {c.barrier}",
                               err=True)
                click.echo(f"powercut: {len(new)} new root causes, {len(found.causes) - len(new)}"
                           f" in the baseline {baseline}", err=True)
            ending = found.ending(least=least, known=known, fail_on_new=fail_on_new)
    if ending.message:
        click.echo(f"powercut: {'error: ' if ending.status == 2 else ''}{ending.message}",
                   err=True)
    return ending.status


def _dry_run(trace: Trace, model: str, page_size: int | None, points: range | list[int] | None,
             json_path: str | None, **plan: Any) -> int:
    """Enumerate without checking: the document goes to --json (or stdout)."""
    names = parse_models(model)
    if len(names) > 1:
        raise PowercutError("--dry-run takes one --model")
    if plan["budget"] is None:
        plan["budget"] = default_budget(trace)
    if plan["strategy"] == "exhaustive":
        plan["budget"] = None
    enumeration = Enumeration(trace, get_model(names[0], page_size or trace.page_size),
                              points=points, **plan)
    if json_path is None:
        write_dry_run(enumeration, sys.stdout)
    else:
        with atomic_writer(json_path, "dry-run document") as out:
            write_dry_run(enumeration, out)
    return 0


COMMANDS: list[click.Command] = [explore_command]
