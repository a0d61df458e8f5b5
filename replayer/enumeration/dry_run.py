"""The `powercut explore --dry-run` document: what would be checked, without checking.

It enumerates the crash states an exploration would check (the same plan,
budget and dedup) and writes them as JSON, streamed: every state is
written as it is enumerated and never held, so memory stays flat however
many there are. It never materialises a state and never starts the
program under test. Document `{"kind": "powercut-dry-run", "version": 2}`
(the README's JSON section).
"""

from __future__ import annotations

import json
from typing import IO, Any

from powercut.replayer.enumeration import Enumeration
from powercut.replayer.enumeration.coverage import coverage_dict, point_dict

DRY_RUN_KIND = "powercut-dry-run"
DRY_RUN_VERSION = 2


def write_dry_run(enumeration: Enumeration, out: IO[str]) -> dict[str, Any]:
    """Run `enumeration` to the end, writing the document to `out`; returns its summary."""
    head = {
        "kind": DRY_RUN_KIND, "version": DRY_RUN_VERSION,
        "trace": str(enumeration.trace.path), "trace_digest": enumeration.trace.digest,
        "model": enumeration.model.name, "page_size": enumeration.model.page_size,
    }
    out.write("{\n")
    for key, value in head.items():
        out.write(f" {json.dumps(key)}: {json.dumps(value)},\n")
    out.write(' "states": [')
    first = True
    for state in enumeration:
        record = {**state.name.to_json(), "key": state.key, "duplicate": state.duplicate,
                  "class": state.class_}
        out.write(("\n  " if first else ",\n  ") + json.dumps(record, ensure_ascii=False))
        first = False
    out.write("\n ],\n")
    stats = enumeration.stats
    summary = {"crash_points": stats.crash_points, "states_enumerated": stats.enumerated,
               "states_distinct": stats.distinct,
               "coverage": coverage_dict(enumeration.crash_points, enumeration.plan)}
    out.write(f' "summary": {json.dumps(summary)},\n')
    out.write(' "crash_points": [')
    for i, cp in enumerate(enumeration.crash_points):
        out.write(("\n  " if i == 0 else ",\n  ") + json.dumps(point_dict(cp)))
    out.write("\n ]\n}\n")
    return summary
