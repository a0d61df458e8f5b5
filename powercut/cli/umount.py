"""`powercut umount PATH`: remove the mount a killed `powercut record` left behind.

A thin door over `powercut.recorder.umount.umount`; it refuses (one line,
exit 2) a path that is not a mount, not a powercut mount, or still served
by a live recorder.
"""

from __future__ import annotations

from pathlib import Path

import click

from powercut.recorder.umount import umount


@click.command("umount")
@click.argument("path", type=click.Path(path_type=Path))
def umount_command(path: Path) -> None:
    """Remove the stale mount a killed `powercut record` left at PATH."""
    click.echo(f"powercut: {umount(path)}")


COMMANDS: list[click.Command] = [umount_command]
