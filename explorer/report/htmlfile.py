"""The HTML report (`powercut explore --html FILE`): one self-contained page.

The same content as the terminal report (summary, root causes with their
barriers, page maps, signatures and excerpts, reproducers, checker errors,
the trace timeline) in one file with inline CSS: no script, no font, no
link to any network resource.
Every string that comes from the trace or the program's log is escaped:
log excerpts and paths are hostile input.
"""

from __future__ import annotations

import os
from html import escape

from powercut.explorer.analysis.cause import RootCause, SignatureCount, describe_op
from powercut.explorer.exploration import Exploration
from powercut.explorer.report.files import write_text_atomic
from powercut.explorer.report.summary import notes, result, summary_dict
from powercut.explorer.report.timeline import (
    crash_text,
    gap_text,
    point_ranges,
    subset_maps,
    timeline_rows,
)

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left;vertical-align:top}
table.list th{border-bottom:1px solid #999}
.facts th{white-space:nowrap}
section.cause{border:1px solid #ccc;border-left:6px solid #c33;border-radius:4px;
 padding:.6em 1em;margin:1em 0}
section.cause.data-loss{border-left-color:#e70}section.cause.hang{border-left-color:#cb0}
section.cause.error{border-left-color:#a3a}
pre{background:#f5f5f5;padding:.5em;overflow-x:auto;white-space:pre-wrap;margin:.3em 0}
.map{font-family:monospace;letter-spacing:.05em}.fail{color:#b22}.pass{color:#282}
.warn{color:#a60;font-weight:bold}.ok{color:#282}
.timeline div{font-family:monospace;white-space:pre}
.timeline .barrier{border-top:3px double #38a;color:#38a;margin:.3em 0}
.timeline .failed{color:#a3a;font-weight:bold}
.timeline .gap{color:#888}.timeline .crash{color:#b22;font-weight:bold}
"""


def render_html(exploration: Exploration, *, only_body: bool = False) -> str:
    title = f"powercut: {exploration.trace}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ] if not only_body else [f"<h1>model {escape(exploration.model)}</h1>"]
    parts.append(_summary(exploration))
    causes = exploration.causes
    if causes:
        parts.append(_table(causes))
        parts += [_cause(n, c) for n, c in enumerate(causes, 1)]
    if exploration.analysis.errors:
        parts.append("<h2>Checker errors</h2><p>These states could not be judged: the checker "
                     "or powercut failed on them. That is no finding about the program.</p>"
                     + _sigs(exploration.analysis.errors))
    parts.append(_timeline(exploration, causes))
    if not only_body:
        parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(path: str | os.PathLike[str], exploration: Exploration) -> None:
    write_text_atomic(path, render_html(exploration), "HTML report")


def render_models_html(explorations: list[Exploration], causes: list[RootCause]) -> str:
    """Several models: the causes by model on top, then each model's report."""
    first = explorations[0]
    names = [e.model for e in explorations]
    head = "".join(f"<th>{escape(h)}</th>" for h in ("#", "kind", *names, "barrier to add"))
    rows = "".join(
        f"<tr><td>{n}</td><td>{escape(c.kind)}</td>"
        + "".join(f"<td>{'✗' if name in c.models else '·'}</td>" for name in names)
        + f"<td>{escape(c.barrier)}</td></tr>" for n, c in enumerate(causes, 1))
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>powercut: {escape(first.trace)}</title><style>{CSS}</style></head><body>",
             f"<h1>powercut: {escape(first.trace)}</h1>",
             f'<h2>Root causes by model</h2><table class="list"><tr>{head}</tr>{rows}</table>']
    parts += [render_html(e, only_body=True) for e in explorations]
    return "\n".join([*parts, "</body></html>"]) + "\n"


def write_models_html(path: str | os.PathLike[str], explorations: list[Exploration],
                      causes: list[RootCause]) -> None:
    write_text_atomic(path, render_models_html(explorations, causes), "HTML report")


def _rows(pairs: list[tuple[str, str]]) -> str:
    """Table rows from (label, already-escaped HTML) pairs."""
    return "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _summary(exploration: Exploration) -> str:
    s = summary_dict(exploration)
    said = notes(exploration)
    style = "ok" if said[0].startswith("EXHAUSTIVE") else "warn"
    coverage = "<br>".join(f'<span class="{style}">{escape(n)}</span>' for n in said)
    verdicts = ", ".join(f"{escape(k)} {n}" for k, n in s["verdicts"].items())
    said, tone = result(exploration)
    found = f'<span class="{tone}">{escape(said)}</span>'
    if s["errors"]:
        found += f' <span class="warn">({s["errors"]} states could not be judged)</span>'
    states = (f"{s['states_enumerated']} enumerated, {s['states_distinct']} distinct, "
              f"{s['states_checked']} checked")
    if s["states_reused"]:
        states += f", {s['states_reused']} verdicts reused (results cache or --resume)"
    rows = [
        ("trace", escape(f"{exploration.trace} {exploration.trace_digest or ''}")),
        ("checker", escape(exploration.checker)),
        ("model", escape(f"{exploration.model}, pages of {exploration.page_size} B")),
        ("plan", escape(exploration.plan.describe() if exploration.plan else "")),
        ("crash points", str(s["crash_points"])),
        ("states", states),
        ("verdicts", verdicts),
        ("coverage", coverage),
        ("time", f"{exploration.elapsed:.1f} s with {exploration.workers} worker(s); "
                 f"minimising spent {s['minimisation']['checks']} checks"),
        ("result", found),
    ]
    return f'<table class="facts">{_rows(rows)}</table>'


def _table(causes: list[RootCause]) -> str:
    head = "".join(f"<th>{h}</th>" for h in
                   ("#", "kind", "verdict", "states", "crash points", "barrier to add"))
    body = "".join(
        f'<tr><td><a href="#cause-{n}">{n}</a></td><td>{escape(c.kind)}</td>'
        f"<td>{escape(c.verdict)}</td><td>{c.failing}</td>"
        f"<td>{escape(point_ranges(c.points))}</td><td>{escape(c.barrier)}</td></tr>"
        for n, c in enumerate(causes, 1))
    return f'<h2>Root causes</h2><table class="list"><tr>{head}</tr>{body}</table>'


def _sigs(signatures: tuple[SignatureCount, ...] | list[SignatureCount]) -> str:
    return "".join(
        f"<p><b>{s.count}x {escape(s.verdict)}</b>: {escape(s.signature or '(none)')}</p>"
        + (f"<pre>{escape(s.excerpt)}</pre>" if s.excerpt else "")
        for s in signatures)


def _cause(n: int, c: RootCause) -> str:
    rows = [("barrier", f"<b>{escape(c.barrier)}</b>"), ("id", escape(c.id))]
    if c.roles:
        rows.append(("files", escape(", ".join(c.roles))))
    if c.partner_roles:
        rows.append(("persisted", escape(", ".join(c.partner_roles))))
    rows += [(f"op #{op.seq}", escape(describe_op(op))) for op in c.ops[:6]]
    if c.torn is not None:
        pages = c.torn.pages
        rows += [
            ("pages", escape(point_ranges(pages)) + " (▮ kept, ▯ lost)"),
            ("failing", f'<span class="map fail">{len(c.torn.failing)}: '
                        f"{escape(subset_maps(c.torn.failing, pages))}</span>"),
            ("passing", f'<span class="map pass">{len(c.torn.passing)}: '
                        f"{escape(subset_maps(c.torn.passing, pages))}</span>"),
        ]
    if c.missing:
        rows.append(("missing keys", escape(", ".join(c.missing))))
    for name, values in c.fields.items():  # a checker's own evidence (cluster members)
        rows.append((escape(name), escape(", ".join(values))))
    if c.models:
        rows.append(("models", escape(", ".join(c.models))))
    if c.hang:
        rows.append(("hang", escape(c.hang)))
    if c.also:
        rows.append(("same disk", escape(c.also)))
    rows += [("crash points", escape(point_ranges(c.points))),
             ("failing states", f"{c.failing} (minimising spent {c.checks} checks)"),
             ("culprit", escape(c.culprit.text()))]
    if c.lazyfs is not None:
        note = f" ({escape(c.lazyfs.note)})" if c.lazyfs.note else ""
        lazyfs = f"<p><b>LazyFS fault</b>{note}</p><pre>{escape(c.lazyfs.toml())}</pre>"
    else:
        lazyfs = f"<p><b>LazyFS fault</b>: none ({escape(c.lazyfs_why_not)})</p>"
    return (f'<section class="cause {escape(c.verdict)}" id="cause-{n}">'
            f"<h2>#{n} {escape(c.kind)}: {escape(c.summary)}</h2>"
            f'<table class="facts">{_rows(rows)}</table>{_sigs(c.signatures)}'
            f"<p><b>Replay it</b></p><pre>{escape(c.replay)}</pre>{lazyfs}</section>")


def _timeline(exploration: Exploration, causes: list[RootCause]) -> str:
    lines = []
    for row in timeline_rows(exploration, causes):
        if row.kind == "gap":
            lines.append(f'<div class="gap">      {escape(gap_text(row))}</div>')
        elif row.kind == "barrier":
            lines.append(f'<div class="barrier">{row.seq:>5} {escape(row.text)}</div>')
        elif row.kind == "failed":
            lines.append(f'<div class="failed">{row.seq:>5} {escape(row.text)}</div>')
        elif row.kind == "op":
            lines.append(f"<div>{row.seq:>5} {escape(row.text)}</div>")
        else:
            links = ", ".join(f'<a href="#cause-{n}">#{n}</a>' for n in row.causes)
            text = escape(crash_text(row, with_causes=False)) + (f" → {links}" if links else "")
            lines.append(f'<div class="crash">  {text}</div>')
    body = "".join(lines) or "<div>(no operations)</div>"
    return f'<h2>Trace timeline</h2><div class="timeline">{body}</div>'
