"""`powercut faults`: fail each fsync of a workload in turn, and judge how the program reacts.

A thin door over `powercut.faults.sweep`: parse options, build the workload
and the judging, run the sweep with one line per finished run on stderr,
then print the summary (reactions, what each printed, the causes folded
across runs) and write `summary.json` in `--out`. Exit status: 0 no root
cause, 1 root causes found, 2 bad usage or input, or runs that could not
be made, 130 interrupted (after writing what was judged).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from powercut import targets
from powercut.cli import options
from powercut.cli.explore_support import terminate_as_interrupt
from powercut.cli.record import make_workload
from powercut.errors import PowercutError
from powercut.explorer.analysis import DEFAULT_CAUSE_BUDGET
from powercut.explorer.checkers import DEFAULT_TIMEOUT
from powercut.explorer.store.cache import default_cache_dir
from powercut.faultplan import CALLS, Fault
from powercut.faults import FaultRun, Judging, Sweep, sweep
from powercut.faults import summary as summaries
from powercut.kernelfs.filesystems import FILE_SYSTEMS
from powercut.recorder.kernel import OnKernel
from powercut.recorder.record import DEFAULT_TIMEOUT as RECORD_TIMEOUT
from powercut.replayer.models import DEFAULT_MODEL, FSYNC_FAILURES, MODELS

EXIT_INTERRUPTED = 130
DEFAULT_BUDGET = 100  # distinct states per run: the crash points after one failed call


@options.attach("record", "explore")
@click.command("faults")
@click.option("--workload", default=None, type=click.Choice(targets.workload_names()),
              help="What to run [default: command if one is given].")
@click.option("--fail-each", "fail_each", default="fsync", show_default=True,
              metavar="CALL[:GLOB]", help=f"The calls to fail, one run each ({'|'.join(CALLS)}; "
              "fsync is fsync and fdatasync).")
@click.option("--errno", "errno_name", default="EIO", show_default=True, metavar="NAME",
              help="The errno each failed call returns.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the traces, logs, reports and summary.json "
              "[default: faults-WORKLOAD-YYYYmmdd-HHMMSS].")
@click.option("--max-faults", type=click.IntRange(min=1), default=None,
              help="Run at most this many faults, spread over the candidates [default: all].")
@click.option("--fs", "fs_name", type=click.Choice(sorted(FILE_SYSTEMS)), default=None,
              help="Run the workload on this kernel file system (record --fs): the calls "
              "failed are its image's block writes and flushes, and the kernel reacts.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=RECORD_TIMEOUT,
              show_default=True, help="Seconds each run of the workload may take.")
@click.option("--checker", "checker_name", type=click.Choice(targets.checker_names()),
              help="How a crash state is judged [default: the workload's target's checker].")
@click.option("--model", type=click.Choice(sorted(MODELS)), default=DEFAULT_MODEL,
              show_default=True, help="Persistence model of the crash states.")
@click.option("--fsync-failure", type=click.Choice(FSYNC_FAILURES), default="keep",
              show_default=True, help="What a failed fsync leaves in the file: the new bytes, "
              "clean (keep: ext4, XFS), or the durable ones (revert: btrfs).")
@click.option("--budget", type=click.IntRange(min=1), default=DEFAULT_BUDGET,
              show_default=True, help="Distinct states each run checks at most.")
@click.option("--check-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds a state has to recover before it is a hang.")
@click.option("--cause-budget", type=click.IntRange(min=0), default=DEFAULT_CAUSE_BUDGET,
              show_default=True, help="Checks the minimisation of one root cause may spend.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Where runs go: processes here, or a Dask cluster.")
@click.option("--scheduler", help="Dask scheduler address for --executor dask [default: a "
              "local cluster of --workers processes].")
@click.option("--workers", type=click.IntRange(min=1), help="Runs at once [default: the "
              "number of CPUs].")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Results cache [default: $POWERCUT_CACHE_DIR or ~/.cache/powercut].")
@click.option("--no-cache", is_flag=True, help="Check every state afresh.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def faults_command(workload: str | None, fail_each: str, errno_name: str, out: Path | None,
                   max_faults: int | None, fs_name: str | None, timeout: float,
                   checker_name: str | None,
                   model: str, fsync_failure: str, budget: int, check_timeout: float,
                   cause_budget: int, executor: str, scheduler: str | None,
                   workers: int | None, cache_dir: str | None, no_cache: bool,
                   command: tuple[str, ...], **target_options: Any) -> int:
    """Fail each fsync (or CALL) of a workload in turn and judge how the program reacts."""
    if "@" in fail_each:
        raise PowercutError(f"--fail-each {fail_each}: no @N, every matching call is failed "
                            "in turn (powercut record --fail CALL@N fails one)")
    template = Fault.parse(fail_each, errno_name)
    if no_cache and cache_dir is not None:
        raise PowercutError("--cache and --no-cache contradict each other; give one")
    name = workload or ("command" if command else None)
    if name is None:
        raise PowercutError("no workload: give --workload NAME or a command after --")
    chosen = make_workload(name, command, target_options)
    checker = checker_name or ("command" if target_options.get("check_cmd") else None)
    judging = Judging(
        checker, options.chosen("explore", target_options, checker or _checker_of(name)),
        model, fsync_failure, budget, check_timeout, cause_budget,
        None if no_cache else str(cache_dir or default_cache_dir()))
    out = out or Path(f"faults-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    with terminate_as_interrupt():  # SIGTERM and SIGHUP stop the runs as Ctrl-C does
        done = sweep(chosen, template, out, judging=judging, timeout=timeout,
                     executor=executor, workers=workers or os.cpu_count() or 1,
                     scheduler=scheduler, limit=max_faults,
                     on_kernel=OnKernel(fs_name) if fs_name else None, on_run=_progress)
    summaries.write(out / "summary.json", done)
    _print(done, out)
    if done.interrupted:
        click.echo(f"powercut: interrupted; {len(done.runs)} runs judged, kept in {out}",
                   err=True)
        return EXIT_INTERRUPTED
    if summaries.fold(done.runs):
        return 1
    if any(r.error for r in done.runs):
        click.echo("powercut: error: some runs could not be made or judged (see their logs "
                   f"in {out})", err=True)
        return 2
    return 0


def _checker_of(workload: str) -> str:
    """The checker name a workload's traces are judged with, for its options."""
    target = targets.for_workload(workload)
    return target.checkers[0] if target.checkers else workload


def _progress(run: FaultRun, total: int) -> None:
    if total == 0:
        click.echo(f"powercut: clean run: {run.ops} ops, {run.candidates} calls to fail",
                   err=True)
        return
    if run.error:
        click.echo(f"  {run.fault}: error: {run.error[:200]}", err=True)
        return
    assert run.reaction is not None
    causes = ", ".join(c["kind"] for c in run.causes) or "no cause"
    click.echo(f"  {run.fault}: op #{run.reaction.failed} {run.reaction.call}: "
               f"{run.reaction.describe()}; {run.checked} states checked, {causes}", err=True)


def _print(done: Sweep, out: Path) -> None:
    runs = done.runs
    reactions = summaries.reactions(runs)
    click.echo(f"{done.workload}: {len(runs)} of {done.candidates} "
               f"{done.template.call} calls failed with {done.template.errno_name}, one run "
               f"each, in {done.seconds:.0f}s ({done.executor}, {done.workers} workers); "
               f"{sum(r.checked for r in runs)} states checked")
    for kind, count in reactions.most_common():
        first = next(r for r in runs if (r.reaction.kind if r.reaction else "error") == kind)
        said = first.reaction.said if first.reaction else first.error
        click.echo(f"  {count:4d} {kind}: e.g. {first.fault}: {said[-300:]}")
    causes = summaries.fold(runs)
    if not causes:
        click.echo("no root cause: no acknowledged write lost or corrupted after any failure")
    for n, c in enumerate(causes, 1):
        click.echo(f"#{n} {c.kind} ({c.verdict}) {c.id} in {len(c.faults)} runs: {c.summary}")
        click.echo(f"   barrier: {c.barrier}")
    click.echo(f"traces, logs and reports in {out}/, summary in {out}/summary.json")


COMMANDS: list[click.Command] = [faults_command]
