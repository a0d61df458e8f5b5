"""The `powercut explore --dry-run` document: what would be checked, without checking.

It enumerates every crash state (deduplicated, bounded by `max_states`) and
returns counts and every state as plain JSON-able data. It never
materialises a state and never starts the program under test.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from powercut.replayer.enumeration import Enumeration
from powercut.replayer.models.base import PersistenceModel
from powercut.trace import Trace

DRY_RUN_VERSION = 1


def dry_run(trace: Trace, model: PersistenceModel, *, max_states: int | None,
            points: Collection[int] | range | None = None) -> dict[str, Any]:
    """Enumerate `trace` under `model` and describe every state."""
    enumeration = Enumeration(trace, model, max_states=max_states, points=points)
    return dry_run_document(enumeration)


def dry_run_document(enumeration: Enumeration) -> dict[str, Any]:
    """Run `enumeration` to the end and turn it into the dry-run document."""
    states = [
        {"point": s.point, "kept": {path: list(pages) for path, pages in s.kept},
         "key": s.key, "duplicate": s.duplicate}
        for s in enumeration
    ]
    stats = enumeration.stats
    return {
        "kind": "powercut-dry-run",
        "version": DRY_RUN_VERSION,
        "trace": str(enumeration.trace.path),
        "trace_digest": enumeration.trace.digest,
        "model": enumeration.model.name,
        "page_size": enumeration.model.page_size,
        "max_states": enumeration.max_states,
        "counts": {
            "crash_points": stats.crash_points,
            "states_enumerated": stats.enumerated,
            "distinct_states": stats.distinct,
            "possible_states": stats.possible,
            "bounded_points": stats.bounded_points,
            "coverage": stats.coverage,
        },
        "crash_points": [
            {"point": cp.seq, "units": len(cp.units), "possible": cp.possible,
             "enumerated": cp.enumerated, "bounded": cp.bounded}
            for cp in enumeration.crash_points
        ],
        "states": states,
    }
