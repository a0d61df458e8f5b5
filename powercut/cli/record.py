"""`powercut record`: run a workload on a recording mount and write its trace.

A thin door over `powercut.recorder.record.record`; it only parses options,
builds the workload and prints the one-line summary. Ctrl-C keeps the ops
recorded so far (footer `interrupted`) and exits 130.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from powercut import targets
from powercut.cli import options
from powercut.errors import PowercutError, WorkloadError
from powercut.kernelfs.filesystems import DEFAULT_SIZE, FILE_SYSTEMS, parse_size
from powercut.recorder.kernel import OnKernel
from powercut.recorder.mount import removal_hint, stale_mounts
from powercut.recorder.record import DEFAULT_TIMEOUT, record
from powercut.recorder.workload import Workload

EXIT_INTERRUPTED = 130
EXIT_WORKLOAD_FAILED = 1


def make_workload(name: str, command: tuple[str, ...], values: dict[str, Any]) -> Workload:
    """The workload `name` from its target, with the target options given for it."""
    target = targets.for_workload(name)
    if name != "command" and command:
        raise WorkloadError(f"the {name} workload takes no command; use --workload command")
    return target.workload(name, options.chosen("record", values, name), command)


@options.attach("record")
@click.command("record", context_settings={"ignore_unknown_options": False})
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Trace file to write [default: WORKLOAD-YYYYmmdd-HHMMSS.trace].")
@click.option("--workload", default=None, type=click.Choice(targets.workload_names()),
              help="What to run on the mount [default: command if one is given, else "
              f"{targets.default_workload()}].")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds the workload may take.")
@click.option("--keep-backing", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the real files in DIR (its prior contents become the initial tree).")
@click.option("--mountpoint", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Mount here (an empty directory; a mount a killed recorder left here is "
              "removed first) [default: a temp dir].")
@click.option("--fs", "fs_name", type=click.Choice(sorted(FILE_SYSTEMS)), default=None,
              help="Run the workload on this kernel file system, in an image on the recording "
              "mount: the trace holds its block writes and flushes.")
@click.option("--fs-size", default=None, metavar="SIZE",
              help=f"Size of the --fs image (K, M, G) [default: {DEFAULT_SIZE >> 20}M].")
@click.option("--mkfs-opt", "mkfs_opts", multiple=True, metavar="OPT",
              help="An option for mkfs of the --fs image (repeatable), e.g. --mkfs-opt=-O "
              "--mkfs-opt=^has_journal.")
@click.option("--mount-opt", "mount_opts", multiple=True, metavar="OPT",
              help="A mount option of the --fs file system (repeatable), e.g. data=writeback, "
              "commit=1; nodev,nosuid,noexec are always added.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def record_command(ctx: click.Context, output: Path | None, workload: str | None,
                   timeout: float, keep_backing: Path | None, mountpoint: Path | None,
                   fs_name: str | None, fs_size: str | None, mkfs_opts: tuple[str, ...],
                   mount_opts: tuple[str, ...], command: tuple[str, ...],
                   **target_options: Any) -> None:
    """Record a workload's file-system operations: `powercut record -- CMD {mnt} ...`.

    In the command, {mnt} is the directory it works in, and {marker} the file
    it appends acknowledgements to (also $POWERCUT_MARKER).
    """
    on_kernel = None
    if fs_name is not None:
        on_kernel = OnKernel(fs_name, parse_size(fs_size) if fs_size else DEFAULT_SIZE,
                             mkfs_opts, ",".join(mount_opts))
    elif fs_size or mkfs_opts or mount_opts:
        raise PowercutError("--fs-size, --mkfs-opt and --mount-opt go with --fs ext4|xfs|btrfs")
    for mnt in stale_mounts():
        if mountpoint is not None and os.path.abspath(mountpoint) == mnt:
            continue  # record() removes this one before mounting there again
        click.echo(f"powercut: warning: stale recorder mount at {mnt}; {removal_hint(mnt)}",
                   err=True)
    name = workload or ("command" if command else targets.default_workload())
    if name is None:
        raise WorkloadError("no workload: give --workload NAME or a command after --")
    chosen = make_workload(name, command, target_options)
    if output is None:
        output = Path(f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.trace")
    try:
        result = record(output, chosen, timeout=timeout, backing=keep_backing,
                        mountpoint=mountpoint, argv=["powercut", *sys.argv[1:]],
                        on_kernel=on_kernel)
    except KeyboardInterrupt:
        click.echo(f"powercut: interrupted; the ops recorded so far are kept in {output}",
                   err=True)
        ctx.exit(EXIT_INTERRUPTED)
    click.echo(result.summary())
    if result.status != "complete":
        click.echo(f"powercut: {result.detail}", err=True)
        ctx.exit(EXIT_WORKLOAD_FAILED)


COMMANDS: list[click.Command] = [record_command]
