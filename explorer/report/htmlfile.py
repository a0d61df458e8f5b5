"""The HTML report (`powercut explore --html FILE`): one self-contained page.

The same content as the terminal report (summary, vulnerabilities with
page maps, signatures and excerpts, reproducers, the trace timeline) in one
file with inline CSS: no script, no font, no link to any network resource.
Every string that comes from the trace or the program's log is escaped:
log excerpts and paths are hostile input.
"""

from __future__ import annotations

import os
from html import escape

from powercut.explorer.analysis.vulnerability import Vulnerability, describe_op
from powercut.explorer.report.files import write_text_atomic
from powercut.explorer.report.jsonfile import coverage_notes, summary_dict
from powercut.explorer.report.timeline import (
    crash_text,
    gap_text,
    kept_text,
    point_ranges,
    subset_maps,
    timeline_rows,
)
from powercut.explorer.verdict import Exploration

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left;vertical-align:top}
table.list th{border-bottom:1px solid #999}
.facts th{white-space:nowrap}
section.vuln{border:1px solid #ccc;border-left:6px solid #c33;border-radius:4px;
 padding:.6em 1em;margin:1em 0}
section.vuln.data-loss{border-left-color:#e70}section.vuln.hang{border-left-color:#cb0}
section.vuln.error{border-left-color:#a3a}
pre{background:#f5f5f5;padding:.5em;overflow-x:auto;white-space:pre-wrap;margin:.3em 0}
.map{font-family:monospace;letter-spacing:.05em}.fail{color:#b22}.pass{color:#282}
.warn{color:#a60;font-weight:bold}.ok{color:#282}
.timeline div{font-family:monospace;white-space:pre}
.timeline .barrier{border-top:3px double #38a;color:#38a;margin:.3em 0}
.timeline .gap{color:#888}.timeline .crash{color:#b22;font-weight:bold}
"""


def render_html(exploration: Exploration, vulns: list[Vulnerability]) -> str:
    title = f"powercut: {exploration.trace}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _summary(exploration, vulns),
    ]
    if vulns:
        parts.append(_table(vulns))
        parts += [_vulnerability(n, v) for n, v in enumerate(vulns, 1)]
    parts += [_timeline(exploration, vulns), "</body></html>"]
    return "\n".join(parts) + "\n"


def write_html(
    path: str | os.PathLike[str], exploration: Exploration, vulns: list[Vulnerability]
) -> None:
    write_text_atomic(path, render_html(exploration, vulns), "HTML report")


def _rows(pairs: list[tuple[str, str]]) -> str:
    """Table rows from (label, already-escaped HTML) pairs."""
    return "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _summary(exploration: Exploration, vulns: list[Vulnerability]) -> str:
    s = summary_dict(exploration)
    notes = coverage_notes(exploration)
    style = "ok" if notes[0].startswith("EXHAUSTIVE") else "warn"
    coverage = "<br>".join(f'<span class="{style}">{escape(n)}</span>' for n in notes)
    verdicts = ", ".join(f"{escape(k)} {n}" for k, n in s["verdicts"].items())
    found = (
        f'<span class="fail">{len(vulns)} vulnerabilit{"ies" if len(vulns) > 1 else "y"} '
        "found</span>"
        if vulns
        else '<span class="ok">no vulnerability found</span>'
    )
    rows = [
        ("trace", escape(f"{exploration.trace} {exploration.trace_digest or ''}")),
        ("checker", escape(exploration.checker)),
        ("model", escape(f"{exploration.model}, pages of {exploration.page_size} B")),
        ("crash points", str(s["crash_points"])),
        (
            "states",
            f"{s['states_enumerated']} enumerated, {s['states_distinct']} distinct, "
            f"{s['states_checked']} checked"
            + (f", {s['states_reused']} reused from earlier runs" if s.get("states_reused")
               else ""),
        ),
        ("verdicts", verdicts),
        ("coverage", coverage),
        ("time", f"{exploration.elapsed:.1f} s with {exploration.workers} worker(s)"),
        ("result", found),
    ]
    return f'<table class="facts">{_rows(rows)}</table>'


def _table(vulns: list[Vulnerability]) -> str:
    head = "".join(
        f"<th>{h}</th>" for h in ("#", "kind", "verdict", "states", "crash points", "summary")
    )
    body = "".join(
        f'<tr><td><a href="#vuln-{n}">{n}</a></td><td>{escape(v.kind)}</td>'
        f"<td>{escape(v.verdict)}</td><td>{len(v.states)}</td>"
        f"<td>{escape(point_ranges(v.points))}</td><td>{escape(v.summary)}</td></tr>"
        for n, v in enumerate(vulns, 1)
    )
    return f'<h2>Vulnerabilities</h2><table class="list"><tr>{head}</tr>{body}</table>'


def _vulnerability(n: int, v: Vulnerability) -> str:
    rows = [(f"op #{op.seq}", escape(describe_op(op))) for op in v.ops]
    if v.write_pages:
        rows += [
            ("pages", escape(point_ranges(v.write_pages)) + " (▮ kept, ▯ lost)"),
            (
                "failing",
                f'<span class="map fail">{len(v.failing_subsets)}: '
                f"{escape(subset_maps(v.failing_subsets, v.write_pages))}</span>",
            ),
            (
                "passing",
                f'<span class="map pass">{len(v.passing_subsets)}: '
                f"{escape(subset_maps(v.passing_subsets, v.write_pages))}</span>",
            ),
        ]
    if v.missing:
        rows.append(("missing keys", escape(", ".join(v.missing))))
    rows += [
        ("crash points", escape(point_ranges(v.points))),
        ("failing states", str(len(v.states))),
        (
            "smallest state",
            escape(f"crash point {v.smallest.point}, kept {kept_text(v.smallest.kept)}"),
        ),
    ]
    sigs = "".join(
        f"<p><b>{s.count}x {escape(s.verdict)}</b>: {escape(s.signature or '(none)')}</p>"
        + (f"<pre>{escape(s.excerpt)}</pre>" if s.excerpt else "")
        for s in v.signatures
    )
    if v.lazyfs is not None:
        note = f" ({escape(v.lazyfs.note)})" if v.lazyfs.note else ""
        lazyfs = f"<p><b>LazyFS fault</b>{note}</p><pre>{escape(v.lazyfs.toml())}</pre>"
    else:
        lazyfs = f"<p><b>LazyFS fault</b>: none ({escape(v.lazyfs_why_not)})</p>"
    return (
        f'<section class="vuln {escape(v.verdict)}" id="vuln-{n}">'
        f"<h2>#{n} {escape(v.kind)}: {escape(v.summary)}</h2>"
        f'<table class="facts">{_rows(rows)}</table>{sigs}'
        f"<p><b>Replay it</b></p><pre>{escape(v.replay)}</pre>{lazyfs}</section>"
    )


def _timeline(exploration: Exploration, vulns: list[Vulnerability]) -> str:
    lines = []
    for row in timeline_rows(exploration, vulns):
        if row.kind == "gap":
            lines.append(f'<div class="gap">      {escape(gap_text(row))}</div>')
        elif row.kind == "barrier":
            lines.append(f'<div class="barrier">{row.seq:>5} {escape(row.text)}</div>')
        elif row.kind == "op":
            lines.append(f"<div>{row.seq:>5} {escape(row.text)}</div>")
        else:
            links = ", ".join(f'<a href="#vuln-{n}">#{n}</a>' for n in row.vulns)
            text = escape(crash_text(row, with_vulns=False)) + (f" → {links}" if links else "")
            lines.append(f'<div class="crash">  {text}</div>')
    body = "".join(lines) or "<div>(no operations)</div>"
    return f'<h2>Trace timeline</h2><div class="timeline">{body}</div>'
