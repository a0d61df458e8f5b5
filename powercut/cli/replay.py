"""`powercut replay`: materialise one named crash state into a directory.

A thin door over `replayer.replay.state_at` and `replayer.materialise`; the
command a report prints for a root cause's culprit state. A state is named
by its crash point and its lost units (`--lose`, the form reports print),
or by the units kept (`--keep`, every other pending unit lost: the page
form `--keep PATH:PAGES` of earlier reports), or every unit kept (neither).
"""

from __future__ import annotations

from pathlib import Path

import click

from powercut.replayer.materialise import materialise
from powercut.replayer.models import DEFAULT_MODEL, MODELS, get_model
from powercut.replayer.replay import state_at
from powercut.trace import open_trace

UNIT_HELP = "PATH:PAGES (e.g. data/db:0,2-3) or #SEQ[.PIECE] (a namespace operation)"


@click.command("replay")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--point", type=int, required=True,
              help="Crash point: power fails right after this op's seq (-1: before the first).")
@click.option("--lose", "lose", multiple=True, metavar="UNIT",
              help=f"Pending units that did not reach the disk (repeatable): {UNIT_HELP}; "
              "the others did.")
@click.option("--keep", "keep", multiple=True, metavar="UNIT",
              help="Pending units that reached the disk (repeatable); the others did not.")
@click.option("--keep-all", is_flag=True, help="Every pending unit reached the disk (the "
              "default when neither --lose nor --keep is given).")
@click.option("--model", type=click.Choice(sorted(MODELS)), default=DEFAULT_MODEL,
              show_default=True, help="Persistence model.")
@click.option("--page-size", type=int, default=None,
              help="Page size of the model [default: the trace's, 4096].")
@click.option("--prefix", is_flag=True, help="Use the valid prefix of a trace cut short.")
@click.option("--to", "to", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Empty or new directory to write the state into.")
def replay_command(trace: Path, point: int, lose: tuple[str, ...], keep: tuple[str, ...],
                   keep_all: bool, model: str, page_size: int | None, prefix: bool,
                   to: Path) -> None:
    """Write the crash state at --point of TRACE into --to."""
    if sum(map(bool, (lose, keep, keep_all))) > 1:
        raise click.UsageError("--lose, --keep and --keep-all exclude each other")
    opened = open_trace(trace, allow_prefix=prefix)
    chosen = get_model(model, page_size or opened.page_size)
    state = state_at(opened, chosen, point, lost=lose or None, keep=keep or None)
    done = materialise(state, to)
    lost = "; ".join(state.name.lost) or "nothing"
    click.echo(f"crash point {point}: {done.files} files, {done.bytes} bytes, lost {lost} "
               f"-> {to}")
    if opened.fs is not None:
        image = to / str(opened.fs.get("image"))
        options = ",".join(filter(None, ("loop,nodev,nosuid,noexec",
                                         opened.fs.get("mount_options"))))
        click.echo(f"the crash image is {image} ({opened.fs.get('type')}); mounting it lets "
                   f"this kernel recover it: mount -o {options} {image} MOUNTPOINT")


COMMANDS: list[click.Command] = [replay_command]
