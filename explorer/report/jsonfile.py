"""The JSON report (`powercut explore --json FILE`): `{"kind": "powercut-report", "version": 2}`.

The schema is a public contract, documented in docs/json.md:
a key that changes meaning or disappears needs a new version; new keys may
be added within a version (readers ignore keys they do not know). The
unit of the report is the root cause (`causes`); every enumerated state
follows as evidence, streamed from disk, so the report of a large
exploration never sits whole in memory. It never runs anything and only
writes the one file it is given (whole or not at all, durably).
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

from powercut.explorer.analysis.cause import RootCause, SignatureCount
from powercut.explorer.exploration import Exploration
from powercut.explorer.report.files import atomic_writer
from powercut.explorer.report.summary import summary_dict
from powercut.explorer.verdict import OpSummary
from powercut.replayer.enumeration.coverage import point_dict

REPORT_KIND = "powercut-report"
REPORT_VERSION = 2
SCHEMA = f"{REPORT_KIND}/{REPORT_VERSION}"


def op_dict(op: OpSummary | None) -> dict[str, Any] | None:
    if op is None:
        return None
    out: dict[str, Any] = {"seq": op.seq, "op": op.op, "path": op.path}
    for key in ("dst", "offset", "length", "datasync", "text", "errno"):
        value = getattr(op, key)
        if value is not None:
            out[key] = value
    return out


def signature_dict(s: SignatureCount) -> dict[str, Any]:
    return {"signature": s.signature, "count": s.count, "excerpt": s.excerpt,
            "verdict": s.verdict}


CORE = frozenset({"id", "kind", "verdict", "roles", "partner_roles", "barrier", "after", "ops",
                  "summary", "first_point", "last_point", "points", "failing", "culprit",
                  "minimal", "checks", "signatures", "reproducer", "torn", "missing", "models",
                  "hang", "unchecked", "examples", "files"})


def cause_dict(c: RootCause) -> dict[str, Any]:
    torn = None
    if c.torn is not None:
        torn = {"write": op_dict(c.torn.write), "pages": list(c.torn.pages),
                "failing": [list(s) for s in c.torn.failing],
                "passing": [list(s) for s in c.torn.passing]}
    return {
        "id": c.id,
        "kind": c.kind,
        "verdict": c.verdict,
        "roles": list(c.roles),
        "partner_roles": list(c.partner_roles),
        "barrier": c.barrier,
        "after": op_dict(c.after),
        "ops": [op_dict(o) for o in c.ops],
        "summary": c.summary,
        "first_point": c.first_point,
        "last_point": c.last_point,
        "points": list(c.points),
        "failing": c.failing,
        "culprit": c.culprit.to_json(),
        "minimal": c.minimal,
        "checks": c.checks,
        "signatures": [signature_dict(s) for s in c.signatures],
        "reproducer": {
            "replay": c.replay,
            "lazyfs": c.lazyfs.toml() if c.lazyfs is not None else None,
            "lazyfs_note": c.lazyfs.note if c.lazyfs is not None else c.lazyfs_why_not,
        },
        "torn": torn,
        "missing": list(c.missing),
        "models": list(c.models),
        "hang": c.hang,
        "unchecked": c.unchecked,
        "examples": [e.to_json() for e in c.examples],
        "equivalent_states": [{"how": e.how, **e.state.to_json(),
                               "ops": [op_dict(o) for o in e.ops]}
                              for e in c.equivalent_states],
        "also": c.also,
        "files": files_dict(c),
        # A checker's own evidence fields (`members` of a cluster), each a key of its own.
        **{name: list(values) for name, values in c.fields.items() if name not in CORE},
    }


def files_dict(c: RootCause) -> dict[str, Any] | None:
    """Kernel traces: what the failing disk lost, in files (see analysis.in_files)."""
    if c.files is None:
        return None
    return {
        "changes": [{"path": ch.path, "change": ch.change, "words": ch.words()}
                    for ch in c.files.changes],
        "minimal": c.files.minimal,
        "passing": c.files.passing.to_json(),
        "durable_at": op_dict(c.files.durable_at),
        "checks": c.files.checks,
        "blocks": [{"where": where, "owner": owner} for where, owner in c.files.blocks],
    }


def head_dict(exploration: Exploration) -> dict[str, Any]:
    """Everything but the streamed `states`."""
    return {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "trace": exploration.trace,
        "trace_digest": exploration.trace_digest,
        "model": exploration.model,
        "kernel": exploration.kernel,
        "page_size": exploration.page_size,
        "checker": exploration.checker,
        "summary": summary_dict(exploration),
        "causes": [cause_dict(c) for c in exploration.causes],
        "errors": [signature_dict(e) for e in exploration.analysis.errors],
        "crash_points": [point_dict(cp) for cp in exploration.crash_points],
    }


def write_report(exploration: Exploration, out: IO[str]) -> None:
    """The whole report to `out`, states streamed one line each."""
    head = head_dict(exploration)
    out.write("{\n")
    for key, value in head.items():
        out.write(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
    out.write(' "states": [')
    for i, j in enumerate(exploration.iter_judged()):
        record = {**j.state.name.to_json(), "key": j.state.key, "class": j.state.class_,
                  "duplicate": j.state.duplicate, "verdict": j.outcome.verdict,
                  "signature": j.outcome.signature}
        out.write(("\n  " if i == 0 else ",\n  ") + json.dumps(record, ensure_ascii=False))
    out.write("\n ]\n}\n")


def to_json_dict(exploration: Exploration) -> dict[str, Any]:
    """The report as one value (tests and small explorations; `write_json` streams)."""
    import io

    buffer = io.StringIO()
    write_report(exploration, buffer)
    return json.loads(buffer.getvalue())


def write_json(path: str | os.PathLike[str], exploration: Exploration) -> None:
    with atomic_writer(path, "JSON report") as f:
        write_report(exploration, f)
