"""The terminal report of an exploration, drawn with rich.

A summary (with the coverage said plainly), a table of the
vulnerabilities, one panel per vulnerability (the write, its failing and
passing page subsets as page maps, signatures with one log excerpt each,
the `powercut replay` command and the LazyFS fault), and the trace timeline
with sync barriers as rules and failing crash points marked.

It only renders what it is given: no analysis, no processes. Without a
terminal (piped, or CI set) it prints no colour codes, at a fixed width.
Log excerpts come from the program under test: they are always drawn as
plain `Text`, never parsed as rich markup.
"""

from __future__ import annotations

import os
import sys
from typing import IO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from powercut.explorer.analysis.vulnerability import Vulnerability, describe_op
from powercut.explorer.report.jsonfile import coverage_notes, summary_dict
from powercut.explorer.report.timeline import (
    crash_text,
    excerpt_lines,
    gap_text,
    kept_text,
    point_ranges,
    subset_maps,
    timeline_rows,
)
from powercut.explorer.verdict import Exploration

PLAIN_WIDTH = 100
MAX_PANELS = 30  # the JSON and HTML reports hold every vulnerability; a terminal has limits
STYLE = {"unrecoverable": "bold red", "data-loss": "red", "hang": "yellow", "error": "magenta"}


def make_console(file: IO[str] | None = None) -> Console:
    """A console for the report: colour only on a real terminal outside CI."""
    out = file if file is not None else sys.stdout
    terminal = hasattr(out, "isatty") and out.isatty() and not os.environ.get("CI")
    if terminal:
        return Console(file=out, highlight=False)
    width = int(os.environ.get("COLUMNS", "0") or 0) or PLAIN_WIDTH
    return Console(
        file=out, width=width, color_system=None, force_terminal=False, highlight=False, emoji=False
    )


def print_report(
    exploration: Exploration, vulns: list[Vulnerability], console: Console | None = None
) -> None:
    console = console or make_console()
    for renderable in report_renderables(exploration, vulns):
        console.print(renderable)


def render_terminal(
    exploration: Exploration, vulns: list[Vulnerability], console: Console | None = None
) -> None:
    """The name the explore command looks up; the same as `print_report`."""
    print_report(exploration, vulns, console)


def report_renderables(
    exploration: Exploration, vulns: list[Vulnerability]
) -> list[RenderableType]:
    parts: list[RenderableType] = [summary_panel(exploration, vulns)]
    if vulns:
        parts.append(vulnerability_table(vulns))
        parts += [vulnerability_panel(n, v) for n, v in enumerate(vulns[:MAX_PANELS], 1)]
        if len(vulns) > MAX_PANELS:
            parts.append(
                Text(
                    f"… {len(vulns) - MAX_PANELS} more vulnerabilities, less severe: "
                    "every one is in the --json and --html reports",
                    style="bold",
                )
            )
    parts.append(timeline(exploration, vulns))
    return parts


def coverage_text(exploration: Exploration) -> Text:
    notes = coverage_notes(exploration)
    exhaustive = notes[0].startswith("EXHAUSTIVE")
    return Text("\n".join(notes), style="green" if exhaustive else "bold yellow")


def summary_panel(exploration: Exploration, vulns: list[Vulnerability]) -> Panel:
    s = summary_dict(exploration)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    digest = f"  ({exploration.trace_digest[:19]}…)" if exploration.trace_digest else ""
    grid.add_row("trace", Text(exploration.trace + digest))
    grid.add_row("checker", Text(exploration.checker))
    grid.add_row("model", f"{exploration.model}, pages of {exploration.page_size} B")
    grid.add_row("crash points", str(s["crash_points"]))
    grid.add_row(
        "states",
        f"{s['states_enumerated']} enumerated, {s['states_distinct']} "
        f"distinct, {s['states_checked']} checked"
        + (f", {s['states_reused']} reused from earlier runs" if s.get("states_reused")
           else ""),
    )
    verdicts = Text()
    for kind, n in s["verdicts"].items():
        verdicts.append(f"{kind} {n}  ", style=STYLE.get(kind, "green"))
    grid.add_row("verdicts", verdicts)
    grid.add_row("coverage", coverage_text(exploration))
    grid.add_row(
        "time",
        f"{exploration.elapsed:.1f} s with {exploration.workers} "
        f"worker{'s' if exploration.workers != 1 else ''}",
    )
    if vulns:
        found = Text(
            f"{len(vulns)} vulnerabilit{'ies' if len(vulns) > 1 else 'y'} found", style="bold red"
        )
    else:
        found = Text("no vulnerability found", style="bold green")
    grid.add_row("result", found)
    return Panel(grid, title="powercut explore", title_align="left", box=box.ROUNDED)


def vulnerability_table(vulns: list[Vulnerability]) -> Table:
    table = Table(title="Vulnerabilities", title_justify="left", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("states", justify="right", no_wrap=True)
    table.add_column("points", no_wrap=True)
    table.add_column("summary", ratio=1, min_width=30)
    for n, v in enumerate(vulns, 1):
        table.add_row(
            str(n),
            Text(v.kind, style=STYLE.get(v.verdict, "")),
            str(len(v.states)),
            point_ranges(v.points, limit=3),
            Text(v.summary),
        )
    return table


def vulnerability_panel(n: int, v: Vulnerability) -> Panel:
    body: list[RenderableType] = [Text(v.summary, style="bold")]
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    for op in v.ops:
        facts.add_row(
            "op" if len(v.ops) == 1 else f"op #{op.seq}", Text(f"#{op.seq} {describe_op(op)}")
        )
    if v.write_pages:
        facts.add_row(
            "pages",
            Text(
                f"{len(v.write_pages)} of the write: "
                f"{point_ranges(v.write_pages)}  (▮ kept, ▯ lost)"
            ),
        )
        facts.add_row(
            "failing",
            Text(
                f"{len(v.failing_subsets)}: " + subset_maps(v.failing_subsets, v.write_pages),
                style="red",
            ),
        )
        facts.add_row(
            "passing",
            Text(
                f"{len(v.passing_subsets)}: " + subset_maps(v.passing_subsets, v.write_pages),
                style="green",
            ),
        )
    if v.missing:
        facts.add_row("missing keys", Text(", ".join(v.missing)))
    facts.add_row("crash points", point_ranges(v.points))
    facts.add_row("failing states", str(len(v.states)))
    facts.add_row(
        "smallest state", Text(f"crash point {v.smallest.point}, kept {kept_text(v.smallest.kept)}")
    )
    body.append(facts)
    for sig in v.signatures:
        head = Text(f"{sig.count}x ", style="bold")
        head.append(sig.verdict, style=STYLE.get(sig.verdict, ""))
        head.append(f": {sig.signature or '(no signature)'}")
        body.append(head)
        if sig.excerpt:
            body.append(
                Panel(Text(excerpt_lines(sig.excerpt), style="dim"), box=box.SQUARE, padding=(0, 1))
            )
    body.append(Text("replay it:", style="bold"))
    body.append(Text("  " + v.replay))
    if v.lazyfs is not None:
        head = Text("LazyFS fault", style="bold")
        if v.lazyfs.note:
            head.append(f" ({v.lazyfs.note})", style="italic")
        body += [head, Text(_indent(v.lazyfs.toml()))]
    else:
        body.append(Text(f"LazyFS fault: none ({v.lazyfs_why_not})", style="italic"))
    style = STYLE.get(v.verdict, "")
    return Panel(
        Group(*body),
        title=Text(f"#{n} {v.kind}", style=style),
        title_align="left",
        border_style=style,
        box=box.ROUNDED,
    )


def timeline(exploration: Exploration, vulns: list[Vulnerability]) -> Group:
    lines: list[RenderableType] = [Rule(Text("Trace timeline", style="bold"), align="left")]
    for row in timeline_rows(exploration, vulns):
        if row.kind == "gap":
            lines.append(Text(f"      {gap_text(row)}", style="dim"))
        elif row.kind == "barrier":
            lines.append(
                Rule(
                    Text(f"#{row.seq} {row.text}", style="cyan"),
                    align="left",
                    style="cyan",
                    characters="═",
                )
            )
        elif row.kind == "op":
            lines.append(Text(f"{row.seq:>5} {row.text}"))
        else:
            lines.append(Text(f"  {crash_text(row)}", style="bold red"))
    if len(lines) == 1:
        lines.append(Text("(no operations)", style="dim"))
    return Group(*lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
