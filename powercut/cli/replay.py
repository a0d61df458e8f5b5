"""`powercut replay`: materialise one named crash state into a directory.

A thin door over `replayer.replay.state_at` and `replayer.materialise`; the
command a report prints for a vulnerability's smallest failing state.
"""

from __future__ import annotations

from pathlib import Path

import click

from powercut.errors import PowercutError
from powercut.replayer.materialise import materialise
from powercut.replayer.models import DEFAULT_MODEL, MODELS, get_model
from powercut.replayer.replay import state_at
from powercut.trace import open_trace


def parse_keep(values: tuple[str, ...]) -> dict[str, list[int]]:
    """`PATH:PAGE[,PAGE...]` options -> {path: pages}."""
    keep: dict[str, list[int]] = {}
    for value in values:
        path, sep, pages = value.rpartition(":")
        try:
            numbers = [int(p) for p in pages.split(",")]
        except ValueError:
            numbers = []
        if not sep or not path or not numbers or min(numbers) < 0:
            raise PowercutError(f"--keep {value!r}: expected PATH:PAGE[,PAGE...], "
                                "e.g. data/db:2,3")
        keep.setdefault(path, []).extend(numbers)
    return keep


@click.command("replay")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--point", type=int, required=True,
              help="Crash point: power fails right after this op's seq (-1: before the first).")
@click.option("--keep", "keep", multiple=True, metavar="PATH:PAGE[,PAGE...]",
              help="Dirty pages that reached the disk (repeatable); others are lost.")
@click.option("--keep-all", is_flag=True, help="Every dirty page reached the disk.")
@click.option("--model", type=click.Choice(sorted(MODELS)), default=DEFAULT_MODEL,
              show_default=True, help="Persistence model.")
@click.option("--page-size", type=int, default=None,
              help="Page size of the model [default: the trace's, 4096].")
@click.option("--prefix", is_flag=True, help="Use the valid prefix of a trace cut short.")
@click.option("--to", "to", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Empty or new directory to write the state into.")
def replay_command(trace: Path, point: int, keep: tuple[str, ...], keep_all: bool, model: str,
                   page_size: int | None, prefix: bool, to: Path) -> None:
    """Write the crash state at --point of TRACE into --to."""
    if keep and keep_all:
        raise click.UsageError("--keep and --keep-all exclude each other")
    opened = open_trace(trace, allow_prefix=prefix)
    chosen = get_model(model, page_size or opened.page_size)
    state = state_at(opened, chosen, point, "all" if keep_all else parse_keep(keep))
    done = materialise(state, to)
    kept = sum(len(pages) for _, pages in state.kept)
    detail = "; ".join(f"{p}:{','.join(map(str, pages))}" for p, pages in state.kept)
    click.echo(f"crash point {point}: {done.files} files, {done.bytes} bytes, "
               f"{kept} kept pages{f' ({detail})' if detail else ''} -> {to}")


COMMANDS: list[click.Command] = [replay_command]
