"""Failure signatures: the cause line of a program's log, normalised so equal failures group.

Pure functions over text. From a log (any program's) find the
line that says why the program died: a zap JSON line at level fatal or
panic (its `msg` plus its `error` field), a Go `panic:` line, a Go runtime
`fatal error:` / `unexpected fault address` (a SIGBUS on a torn mmap), or a
capnslog critical line. Normalising takes out what differs between two runs
of the same failure (timestamps, paths, addresses, ports, numbers). This
module must never do I/O or depend on which program printed the log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

EXCERPT_AFTER = 6  # lines shown after the cause line (not the whole goroutine dump)
EXCERPT_WIDTH = 300
MAX_SIGNATURE = 200


@dataclass(frozen=True)
class Cause:
    """Why a program failed: the raw message, its normalised signature, and a short excerpt."""

    message: str
    signature: str
    excerpt: str


_TIMESTAMP = re.compile(
    r"\b\d{4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_CLOCK = re.compile(r"\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s,;)\]\"']+")
_HOSTPORT = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|localhost|\[[0-9a-f:]+\]):\d+\b")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_LONGHEX = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{8,}\b")
# A path has a slash and no spaces: /abs/path, rel/dir/file, ./x. A leading
# preposition goes with it ("cannot open database at <path> (...)").
_PATH_CHARS = r"[\w.@+~-]"
_PATH = rf"(?:\.{{0,2}}/)?{_PATH_CHARS}*(?:/{_PATH_CHARS}+)+/?"
_PREP_PATH = re.compile(rf"\s+(?:at|in|from|on|under)\s+[\"']?{_PATH}[\"']?(?=[\s:,;)]|$)")
_BARE_PATH = re.compile(rf"(?<![\w<])[\"']?{_PATH}[\"']?(?=[\s:,;)\]]|$)")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:[a-zA-Zµ]{1,3})?(?![\w.])")
_SPACES = re.compile(r"\s+")
_DANGLING = re.compile(r"\s*[:=,]\s*$")


def normalise(message: str) -> str:
    """`message` without timestamps, URLs, ports, addresses, paths or numbers; spaces tidied."""
    text = _TIMESTAMP.sub("", message)
    text = _CLOCK.sub("", text)
    text = _URL.sub("<url>", text)
    text = _HOSTPORT.sub("<addr>", text)
    text = _HEX.sub("", text)
    text = _LONGHEX.sub("", text)
    text = _PREP_PATH.sub("", text)
    text = _BARE_PATH.sub("<path>", text)
    text = _NUMBER.sub("N", text)
    text = _SPACES.sub(" ", text).strip()
    text = re.sub(r"\s+([,;:)\]])", r"\1", text)
    text = re.sub(r"([(\[])\s+", r"\1", text)
    text = re.sub(r"\(\s*\)|\[\s*\]", "", text)
    text = _SPACES.sub(" ", text).strip()
    text = _DANGLING.sub("", text)
    return text[:MAX_SIGNATURE]


_GO_PANIC = re.compile(r"^panic:\s*(?P<msg>.*?)(?:\s*\[recovered\])?\s*$")
_GO_FATAL = re.compile(r"^fatal error:\s*(?P<msg>.+)$")
_GO_FAULT = re.compile(r"^unexpected fault address\b")
_GO_SIGNAL = re.compile(r"^\[signal (?P<sig>SIG[A-Z]+)")
_CAPNSLOG_CRIT = re.compile(r"^\S+ \S+ C \| (?:[\w/.-]+: )?(?P<msg>.+)$")


def _zap_cause(line: str) -> str | None:
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


def _excerpt_line(line: str) -> str:
    if line.startswith("{"):
        # A zap line carries its whole stack trace; the excerpt shows it without.
        try:
            record = json.loads(line)
            if isinstance(record, dict):
                record.pop("stacktrace", None)
                line = json.dumps(record)
        except ValueError:
            pass
    return line if len(line) <= EXCERPT_WIDTH else line[:EXCERPT_WIDTH] + "…"


def _excerpt(lines: list[str], at: int) -> str:
    return "\n".join(_excerpt_line(x) for x in lines[at:at + 1 + EXCERPT_AFTER]).rstrip()


def go_cause(log: str) -> Cause | None:
    """The first Go or zap failure line in `log`, or None if there is none."""
    lines = log.splitlines()
    critical: Cause | None = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        message = _zap_cause(line)
        if message is None:
            if _GO_FAULT.match(line):
                message = "unexpected fault address"
                for nxt in lines[i + 1:i + 4]:
                    sig = _GO_SIGNAL.match(nxt.strip())
                    if sig:
                        message += f" ({sig['sig']})"
                        break
            elif m := _GO_PANIC.match(line) or _GO_FATAL.match(line):
                message = line if line.startswith("fatal error") else m["msg"]
            elif critical is None and (m := _CAPNSLOG_CRIT.match(line)):
                # A capnslog critical line is the cause only if no panic follows it.
                critical = Cause(m["msg"], normalise(m["msg"]), _excerpt(lines, i))
        if message is not None:
            return Cause(message, normalise(message), _excerpt(lines, i))
    return critical


def last_line_cause(log: str) -> Cause | None:
    """For output that is not Go's: the last non-empty line, normalised."""
    lines = [x for x in log.splitlines() if x.strip()]
    if not lines:
        return None
    last = lines[-1].strip()
    if last.startswith("{"):
        # A structured log line: its message is what a reader would quote.
        try:
            record = json.loads(last)
            if isinstance(record, dict) and record.get("msg"):
                error = record.get("error")
                last = f"{record['msg']}: {error}" if error else str(record["msg"])
        except ValueError:
            pass
    return Cause(last, normalise(last), "\n".join(_excerpt_line(x) for x in lines[-8:]))


def tail_excerpt(log: str, lines: int = EXCERPT_AFTER) -> str:
    """The last non-empty lines of `log`, shortened as excerpts are (for a hang)."""
    kept = [x for x in log.splitlines() if x.strip()][-lines:]
    return "\n".join(_excerpt_line(x) for x in kept)


def find_cause(log: str) -> Cause | None:
    """The cause of a failure in `log`: a Go/zap failure line if any, else the last line."""
    return go_cause(log) or last_line_cause(log)
