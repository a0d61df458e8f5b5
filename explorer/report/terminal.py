"""The terminal report of an exploration, drawn with rich: root causes first.

A summary (with the coverage said plainly and the choice the budget made),
a table of the root causes, one panel per cause (the barrier to add, its
culprit, page maps of a torn write, signatures with one log excerpt each,
the `powercut replay` command and the LazyFS fault), the broken checks
apart, and the trace timeline with sync barriers as rules and failing
crash points marked.

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

from powercut.explorer.analysis.cause import RootCause, SignatureCount, describe_op
from powercut.explorer.exploration import Exploration
from powercut.explorer.report.summary import notes, result, summary_dict
from powercut.explorer.report.timeline import (
    crash_text,
    excerpt_lines,
    gap_text,
    point_ranges,
    subset_maps,
    timeline_rows,
)

PLAIN_WIDTH = 100
MAX_PANELS = 30  # the JSON and HTML reports hold every cause; a terminal has limits
STYLE = {"unrecoverable": "bold red", "data-loss": "red", "hang": "yellow", "error": "magenta"}


def make_console(file: IO[str] | None = None) -> Console:
    """A console for the report: colour only on a real terminal outside CI."""
    out = file if file is not None else sys.stdout
    terminal = hasattr(out, "isatty") and out.isatty() and not os.environ.get("CI")
    if terminal:
        return Console(file=out, highlight=False)
    width = int(os.environ.get("COLUMNS", "0") or 0) or PLAIN_WIDTH
    return Console(file=out, width=width, color_system=None, force_terminal=False,
                   highlight=False, emoji=False)


def print_report(exploration: Exploration, console: Console | None = None) -> None:
    console = console or make_console()
    for renderable in report_renderables(exploration):
        console.print(renderable)


def report_renderables(exploration: Exploration) -> list[RenderableType]:
    causes = exploration.causes
    parts: list[RenderableType] = [summary_panel(exploration)]
    if causes:
        parts.append(cause_table(causes))
        parts += [cause_panel(n, c) for n, c in enumerate(causes[:MAX_PANELS], 1)]
        if len(causes) > MAX_PANELS:
            parts.append(Text(f"… {len(causes) - MAX_PANELS} more root causes, less severe: "
                              "every one is in the --json and --html reports", style="bold"))
    if exploration.analysis.errors:
        parts.append(errors_panel(exploration.analysis.errors))
    parts.append(timeline(exploration, causes))
    return parts


def coverage_text(exploration: Exploration) -> Text:
    said = notes(exploration)
    exhaustive = said[0].startswith("EXHAUSTIVE")
    return Text("\n".join(said), style="green" if exhaustive else "bold yellow")


def summary_panel(exploration: Exploration) -> Panel:
    s = summary_dict(exploration)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    digest = f"  ({exploration.trace_digest[:19]}…)" if exploration.trace_digest else ""
    grid.add_row("trace", Text(exploration.trace + digest))
    grid.add_row("checker", Text(exploration.checker))
    if exploration.kernel is not None:
        grid.add_row("model", f"{exploration.kernel}, recovered by this kernel from each crash "
                     "image; the disk loses or keeps each "
                     f"{exploration.page_size} B page written since its last flush")
    else:
        grid.add_row("model", f"{exploration.model}, pages of {exploration.page_size} B")
    if exploration.plan is not None:
        grid.add_row("plan", Text(exploration.plan.describe()))
    grid.add_row("crash points", str(s["crash_points"]))
    states = (f"{s['states_enumerated']} enumerated, {s['states_distinct']} distinct, "
              f"{s['states_checked']} checked")
    if s["states_reused"]:
        states += f", {s['states_reused']} verdicts reused (results cache or --resume)"
    if s["states_same_tree"]:
        states += (f"; {s['states_same_tree']} of them recovered to a tree already judged "
                   "(mounted, the program not run again)")
    grid.add_row("states", states)
    verdicts = Text()
    for kind, n in s["verdicts"].items():
        verdicts.append(f"{kind} {n}  ", style=STYLE.get(kind, "green"))
    grid.add_row("verdicts", verdicts)
    grid.add_row("coverage", coverage_text(exploration))
    minimised = s["minimisation"]
    grid.add_row("time", f"{exploration.elapsed:.1f} s with {exploration.workers} "
                         f"worker{'s' if exploration.workers != 1 else ''}; minimising spent "
                         f"{minimised['checks']} checks (at most {minimised['cause_budget']} "
                         "a cause)")
    said, tone = result(exploration)
    found = Text(said, style={"fail": "bold red", "warn": "bold yellow"}.get(tone, "bold green"))
    if s["errors"]:
        found.append(f"; {s['errors']} states could not be judged (checker errors)",
                     style="magenta")
    grid.add_row("result", found)
    return Panel(grid, title="powercut explore", title_align="left", box=box.ROUNDED)


def cause_table(causes: list[RootCause]) -> Table:
    table = Table(title="Root causes", title_justify="left", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("states", justify="right", no_wrap=True)
    table.add_column("points", no_wrap=True)
    table.add_column("barrier to add", ratio=1, min_width=30)
    for n, c in enumerate(causes, 1):
        table.add_row(str(n), Text(c.kind, style=STYLE.get(c.verdict, "")), str(c.failing),
                      point_ranges(c.points, limit=3), Text(c.barrier))
    return table


def _signatures(signatures: tuple[SignatureCount, ...] | list[SignatureCount]
                ) -> list[RenderableType]:
    body: list[RenderableType] = []
    for sig in signatures:
        head = Text(f"{sig.count}x ", style="bold")
        head.append(sig.verdict, style=STYLE.get(sig.verdict, ""))
        head.append(f": {sig.signature or '(no signature)'}")
        body.append(head)
        if sig.excerpt:
            body.append(Panel(Text(excerpt_lines(sig.excerpt), style="dim"), box=box.SQUARE,
                              padding=(0, 1)))
    return body


def cause_panel(n: int, c: RootCause) -> Panel:
    body: list[RenderableType] = [Text(c.summary, style="bold"),
                                  Text("barrier: " + c.barrier, style="bold cyan")]
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    facts.add_row("id", c.id + ("" if c.minimal else "  (not minimal: the budget ran out)"))
    if c.roles:
        facts.add_row("files", Text(", ".join(c.roles)))
    if c.partner_roles:
        facts.add_row("persisted", Text(", ".join(c.partner_roles)))
    for op in c.ops[:6]:
        facts.add_row(f"op #{op.seq}", Text(describe_op(op)))
    if c.torn is not None:
        pages = c.torn.pages
        facts.add_row("pages", Text(f"{len(pages)} of the write: {point_ranges(pages)}  "
                                    "(▮ kept, ▯ lost)"))
        facts.add_row("failing", Text(f"{len(c.torn.failing)}: "
                                      + subset_maps(c.torn.failing, pages), style="red"))
        facts.add_row("passing", Text(f"{len(c.torn.passing)}: "
                                      + subset_maps(c.torn.passing, pages), style="green"))
    if c.missing:
        facts.add_row("missing keys", Text(", ".join(c.missing)))
    if c.files is not None:
        for i, words in enumerate(c.files.words()):
            facts.add_row("lost" if i == 0 else "", Text(words))
        for i, (where, owner) in enumerate(c.files.blocks[:6]):
            facts.add_row("on the disk" if i == 0 else "", Text(f"{where}: {owner}"))
        if c.files.durable_at is not None:
            facts.add_row("durable at", Text(f"#{c.files.durable_at.seq} "
                                             f"{describe_op(c.files.durable_at)}"))
        facts.add_row("compared with", Text(
            f"{c.files.passing.text()} (passes"
            + ("" if c.files.minimal else "; the files are not minimised: the budget ran out")
            + ")"))
    for name, values in c.fields.items():  # a checker's own evidence (cluster members)
        facts.add_row(name, Text(", ".join(values)))
    if c.models:
        facts.add_row("models", Text(", ".join(c.models)))
    if c.hang:
        facts.add_row("hang", Text(c.hang))
    if c.also:
        facts.add_row("same disk", Text(c.also))
    facts.add_row("crash points", point_ranges(c.points))
    facts.add_row("failing states", f"{c.failing}; minimising spent {c.checks} checks")
    facts.add_row("culprit", Text(c.culprit.text()))
    body.append(facts)
    body += _signatures(c.signatures)
    body += [Text("replay it:", style="bold"), Text("  " + c.replay)]
    if c.lazyfs is not None:
        head = Text("LazyFS fault", style="bold")
        if c.lazyfs.note:
            head.append(f" ({c.lazyfs.note})", style="italic")
        body += [head, Text(_indent(c.lazyfs.toml()))]
    else:
        body.append(Text(f"LazyFS fault: none ({c.lazyfs_why_not})", style="italic"))
    style = STYLE.get(c.verdict, "")
    return Panel(Group(*body), title=Text(f"#{n} {c.kind} ({c.verdict})", style=style),
                 title_align="left", border_style=style, box=box.ROUNDED)


def errors_panel(errors: list[SignatureCount]) -> Panel:
    body: list[RenderableType] = [Text(
        "These states could not be judged: the checker or powercut failed on them. That is "
        "no finding about the program; fix the checker and explore again.", style="italic")]
    body += _signatures(errors)
    return Panel(Group(*body), title=Text("checker errors", style="magenta"),
                 title_align="left", border_style="magenta", box=box.ROUNDED)


def timeline(exploration: Exploration, causes: list[RootCause]) -> Group:
    lines: list[RenderableType] = [Rule(Text("Trace timeline", style="bold"), align="left")]
    for row in timeline_rows(exploration, causes):
        if row.kind == "gap":
            lines.append(Text(f"      {gap_text(row)}", style="dim"))
        elif row.kind == "barrier":
            lines.append(Rule(Text(f"#{row.seq} {row.text}", style="cyan"), align="left",
                              style="cyan", characters="═"))
        elif row.kind == "failed":
            lines.append(Text(f"{row.seq:>5} {row.text}", style="bold magenta"))
        elif row.kind == "op":
            lines.append(Text(f"{row.seq:>5} {row.text}"))
        else:
            lines.append(Text(f"  {crash_text(row)}", style="bold red"))
    if len(lines) == 1:
        lines.append(Text("(no operations)", style="dim"))
    return Group(*lines)


def explain(n: int, cause: RootCause, console: Console | None = None) -> None:
    """Print root cause `n` in full (`--explain N`), with a few of its failing states."""
    console = console or make_console()
    console.print(cause_panel(n, cause))
    if cause.examples:
        console.print(Text("failing states (examples):", style="bold"))
        for name in cause.examples:
            console.print(Text("  " + name.text()))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
