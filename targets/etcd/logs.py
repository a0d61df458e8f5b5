"""etcd's log grammar: the line that says why etcd died, in any of the forms its versions print.

etcd 3.5 logs through zap (one JSON object a line; a fatal or panic level
line names the failure in `msg` and `error`), etcd 3.4 through capnslog
(`2026-11-25 06:38:31.497084 C | etcdserver: ...`: a critical line is the
cause only when no panic follows it), and both die of Go runtime failures
(a `panic:` line, `fatal error:`, or `unexpected fault address` when bbolt
reads a torn page through its mmap and the kernel sends SIGBUS). `cause`
is the etcd checkers' failure-line rule; pure, no I/O.
"""

from __future__ import annotations

import json
import re

from powercut.explorer.checkers.signature import Cause, excerpt_at, normalise, runtime_line

_CAPNSLOG_CRIT = re.compile(r"^\S+ \S+ C \| (?:[\w/.-]+: )?(?P<msg>.+)$")


def zap_message(line: str) -> str | None:
    """For a zap JSON line at level fatal/panic/dpanic, `msg` and `error` joined; else None."""
    if not line.startswith("{") or '"level"' not in line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("level") not in ("fatal", "panic", "dpanic"):
        return None
    msg = str(record.get("msg", "")).strip()
    error = record.get("error")
    return f"{msg}: {error}" if error else msg


def cause(log: str) -> Cause | None:
    """The first zap or Go runtime failure line of an etcd log, else its first capnslog
    critical line, else None."""
    lines = log.splitlines()
    critical: Cause | None = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        message = zap_message(line) or runtime_line(lines, i)
        if message is not None:
            return Cause(message, normalise(message), excerpt_at(lines, i))
        if critical is None and (m := _CAPNSLOG_CRIT.match(line)):
            critical = Cause(m["msg"], normalise(m["msg"]), excerpt_at(lines, i))
    return critical
