"""`powercut explore TRACE`: check the crash states of a trace and report their root causes.

A thin door over `explorer.run.drive.explore`: parse options, build the
model and the checker, run the exploration with a live progress bar
(stderr, only on a terminal), then write the reports. Exit status: 0 no
root cause, 1 root causes found, 2 bad usage or input (or only checker
errors), 4 coverage below `--min-coverage`, 130 interrupted (after
reporting what was judged). It must hold no logic the library does not
expose.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from powercut import targets
from powercut.cli import options
from powercut.cli.diff import causes_of
from powercut.cli.explore_support import (
    default_budget,
    make_checker,
    open_cache,
    parse_coverage,
    parse_points,
    terminate_as_interrupt,
)
from powercut.errors import PowercutError
from powercut.explorer.analysis import DEFAULT_CAUSE_BUDGET
from powercut.explorer.checkers import DEFAULT_TIMEOUT
from powercut.explorer.exploration import Exploration
from powercut.explorer.report.files import atomic_writer
from powercut.explorer.report.htmlfile import write_html, write_models_html
from powercut.explorer.report.jsonfile import write_json
from powercut.explorer.report.lazyfs import write_lazyfs_dir
from powercut.explorer.report.models import merge, print_models, write_models_json
from powercut.explorer.report.progress import LiveProgress
from powercut.explorer.report.summary import coverage
from powercut.explorer.report.terminal import explain, make_console, print_report
from powercut.explorer.run.drive import explore
from powercut.explorer.store.journal import open_journal
from powercut.explorer.store.memo import Memo
from powercut.replayer.enumeration import DEFAULT_BUDGET, Enumeration
from powercut.replayer.enumeration.dry_run import write_dry_run
from powercut.replayer.enumeration.plan import STRATEGIES
from powercut.replayer.models import DEFAULT_MODEL, MODELS, get_model, parse_models
from powercut.testing.emit import emit
from powercut.trace import open_trace

EXIT_COVERAGE = 4


@options.attach("explore")
@click.command("explore")
@click.argument("trace_path", metavar="TRACE", type=click.Path(dir_okay=False))
@click.option("--checker", "checker_name", type=click.Choice(targets.checker_names()),
              help="How a crash state is judged [default: command with --check-cmd, else the "
              "checker of the target that recorded the trace].")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help=f"Persistence model, or several to compare ({','.join(MODELS)}).")
@click.option("--page-size", type=int, help="Page size of the model (default: the trace's).")
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
@click.option("--points", help="Only these crash points: A:B (inclusive), A:, :B or N.")
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
def explore_command(trace_path: str, checker_name: str | None, model: str,
                    page_size: int | None, strategy: str, budget: int | None,
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
    models = [get_model(name, page_size or trace.page_size) for name in parse_models(model)]
    persistence = models[0]
    wanted = parse_points(points, trace.op_count)
    least = parse_coverage(min_coverage)
    if budget is None:
        budget = default_budget(trace)
    plan = {"strategy": strategy, "budget": None if strategy == "exhaustive" else budget,
            "max_states": max_states, "seed": seed}
    if dry_run:
        if len(models) > 1:
            raise PowercutError("--dry-run takes one --model")
        enumeration = Enumeration(trace, persistence, points=wanted, **plan)
        if json_path is None:
            write_dry_run(enumeration, sys.stdout)
        else:
            with atomic_writer(json_path, "dry-run document") as out:
                write_dry_run(enumeration, out)
        return 0
    if fail_on_new and baseline is None:
        raise PowercutError("--fail-on-new needs --baseline REPORT")
    known = causes_of(baseline) if baseline is not None else None
    for option, target in (("--json", json_path), ("--html", html_path)):
        if target is not None and not Path(target).resolve().parent.is_dir():
            raise PowercutError(f"{option} {target}: its directory does not exist")
    checker = make_checker(trace, checker_name, target_options, timeout=timeout, fsck=fsck)
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
          open_cache(cache_dir, checker_id, disabled=no_cache) as cache):
        if resume:
            other = (f" ({journal.others} judged by another checker or timeout are not "
                     "reused)" if journal.others else "")
            click.echo(f"powercut: resuming from {journal_file}: {journal.loaded} states "
                       f"already judged{other}", err=True)
        explorations = []
        memo = Memo()  # a state one model judged is not checked again for the next
        try:
            for chosen in models:
                with terminate_as_interrupt(), LiveProgress(sys.stderr) as progress:
                    exploration = explore(trace, checker, chosen, points=wanted,
                                          workers=workers or os.cpu_count(),
                                          on_progress=progress, journal=journal, cache=cache,
                                          executor=executor, scheduler=scheduler,
                                          cause_budget=cause_budget,
                                          early_hangs=not full_hangs, memo=memo, **plan)
                explorations.append(exploration)
                if exploration.interrupted:
                    break
            if cache is not None and cache.problem:
                click.echo(f"powercut: warning: the results cache stopped keeping verdicts: "
                           f"{cache.problem}", err=True)
            cached = sum(e.book.from_cache for e in explorations)
            distinct = sum(e.distinct for e in explorations)
            if cached:
                click.echo(f"powercut: {cached} of {distinct} distinct states judged from the "
                           "results cache (--no-cache checks them again)", err=True)
            _report(explorations, explain_which, json_path, html_path, lazyfs_dir)
            share = min(coverage(e)["share"] for e in explorations)
            found = merge(explorations)
            causes = len(found)
            if emit_tests is not None:
                written = emit(emit_tests, trace, found, model=explorations[0].model,
                               checker=checker.name, check_cmd=target_options.get("check_cmd"))
                click.echo(f"powercut: {len(written)} regression tests written to {emit_tests}",
                           err=True)
            if known is not None:
                new = [c for c in found if c.id not in known]
                for c in new:
                    click.echo(f"powercut: new root cause {c.id} {c.kind}: {c.barrier}",
                               err=True)
                click.echo(f"powercut: {len(new)} new root causes, {causes - len(new)} in "
                           f"the baseline {baseline}", err=True)
                if fail_on_new:
                    causes = len(new)
            errors = sum(len(e.analysis.errors) for e in explorations)
        finally:
            for e in explorations:
                e.close()
    paused = next((e.paused for e in explorations if e.paused), "")
    if paused:
        judged = sum(len(e.book) for e in explorations)
        click.echo(f"powercut: error: paused: {paused}; the {judged} states judged so far are "
                   f"kept in {journal_file}: free some space (or point TMPDIR elsewhere) and "
                   "run the same command with --resume", err=True)
        return 2
    if any(e.interrupted for e in explorations):
        click.echo("powercut: interrupted; the report covers the states judged so far; "
                   f"--resume continues from {journal_file}", err=True)
        return 130
    if journal_path is None:
        journal_file.unlink(missing_ok=True)  # reported: a default journal has nothing to resume
    if least is not None and share < least:
        click.echo(f"powercut: coverage {share:.1%} is below --min-coverage {least:.1%}; "
                   "raise --budget or use --strategy exhaustive", err=True)
        return EXIT_COVERAGE
    if causes:
        return 1
    if errors:
        click.echo("powercut: error: some states could not be judged (checker errors, see "
                   "the report); fix the checker and explore again", err=True)
        return 2
    return 0


def _report(explorations: list[Exploration], explain_which: str | None, json_path: str | None,
            html_path: str | None, lazyfs_dir: str | None) -> None:
    """Print the report and write the files asked for (one model, or several compared)."""
    if len(explorations) == 1:
        [exploration] = explorations
        print_report(exploration)
        if explain_which is not None and not explain(exploration, explain_which):
            click.echo(f"powercut: --explain {explain_which}: there is no root cause "
                       f"{explain_which} (1..{len(exploration.causes)} or an id)", err=True)
        if json_path is not None:
            write_json(json_path, exploration)
        if html_path is not None:
            write_html(html_path, exploration)
    else:
        console = make_console()
        print_models(explorations, console)
        causes = merge(explorations)
        if explain_which is not None:
            found = [c for n, c in enumerate(causes, 1) if explain_which in (c.id, str(n))]
            if not found:
                click.echo(f"powercut: --explain {explain_which}: there is no root cause "
                           f"{explain_which}", err=True)
        if json_path is not None:
            write_models_json(json_path, explorations)
        if html_path is not None:
            write_models_html(html_path, explorations, causes)
    lazy = next((e for e in explorations if e.model == "lazyfs"), explorations[0])
    if lazyfs_dir is not None:
        write_lazyfs_dir(lazyfs_dir, lazy)


COMMANDS: list[click.Command] = [explore_command]
