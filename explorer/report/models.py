"""Several persistence models at once (`--model lazyfs,ext4-ordered,alice`): one cause, its models.

Each model is explored on its own (the verdicts are shared: a state's
content key does not depend on the model that built it); a root cause's
id does not depend on the model either, so the causes fold into one list
in which each says under which models it appears ("safe on lazyfs, unsafe
on ext4-ordered"). Terminal and JSON; pure rendering.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from powercut.explorer.analysis.cause import RootCause, sort_key
from powercut.explorer.exploration import Exploration
from powercut.explorer.report.files import atomic_writer
from powercut.explorer.report.jsonfile import REPORT_KIND, REPORT_VERSION, cause_dict, write_report
from powercut.explorer.report.summary import notes, result
from powercut.explorer.report.terminal import STYLE, cause_panel


def merge(explorations: list[Exploration]) -> list[RootCause]:
    """Every cause of every model once, with the models it appears under (most severe first)."""
    found: dict[str, RootCause] = {}
    for exploration in explorations:
        for cause in exploration.causes:
            known = found.get(cause.id)
            if known is None:
                found[cause.id] = cause
            else:
                found[cause.id] = replace(known, models=(*known.models, exploration.model))
    return sorted(found.values(), key=sort_key)


def print_models(explorations: list[Exploration], console: Console) -> None:
    table = Table(title="Models", title_justify="left", box=box.SIMPLE_HEAD, expand=True)
    for column in ("model", "states", "causes", "time", "coverage"):
        table.add_column(column)
    for e in explorations:
        table.add_row(e.model, f"{e.enumerated} enumerated, {e.checked} checked",
                      str(len(e.causes)) if e.analysis.analysed else result(e)[0],
                      f"{e.elapsed:.1f} s", Text(notes(e)[0][:80]))
    console.print(table)
    causes = merge(explorations)
    names = [e.model for e in explorations]
    grid = Table(title="Root causes by model", title_justify="left", box=box.SIMPLE_HEAD,
                 expand=True)
    grid.add_column("#", justify="right")
    grid.add_column("kind")
    for name in names:
        grid.add_column(name, justify="center")
    grid.add_column("barrier to add", ratio=1)
    for n, c in enumerate(causes, 1):
        marks = ["✗" if name in c.models else "·" for name in names]
        grid.add_row(str(n), Text(c.kind, style=STYLE.get(c.verdict, "")), *marks, c.barrier)
    console.print(grid)
    for n, c in enumerate(causes, 1):
        console.print(cause_panel(n, c))


def write_models(explorations: list[Exploration], out: IO[str]) -> None:
    """The report of several models: merged causes first, then each model's whole report."""
    head = {"kind": REPORT_KIND, "version": REPORT_VERSION,
            "models": [e.model for e in explorations],
            "causes": [cause_dict(c) for c in merge(explorations)]}
    out.write("{\n")
    for key, value in head.items():
        out.write(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
    out.write(' "explorations": [\n')
    for i, exploration in enumerate(explorations):
        if i:
            out.write(",\n")
        write_report(exploration, out)
    out.write("]\n}\n")


def write_models_json(path: str | os.PathLike[str], explorations: list[Exploration]) -> None:
    with atomic_writer(path, "JSON report") as f:
        write_models(explorations, f)
