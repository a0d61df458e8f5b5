"""Failure signatures: the cause line of a program's log, normalised so equal failures group.

Pure functions over text. From a log (any program's) find the
line that says why the program died when the program's target has no rule
of its own: a Go runtime failure (`panic:`, `fatal error:`, `unexpected
fault address`: a SIGBUS on a torn mmap), else the last line. A target's
own grammar (its logger's format) is its failure-line rule, built from
`excerpt_at` and `line_cause`. Normalising takes out what differs between
two runs of the same failure (timestamps, paths, addresses, ports,
numbers). This module must never do I/O or depend on which program printed
the log.
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


def excerpt_line(line: str) -> str:
    """One log line as an excerpt shows it: a structured (JSON) line without its stack trace,
    any line cut to `EXCERPT_WIDTH`."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
            if isinstance(record, dict):
                record.pop("stacktrace", None)
                line = json.dumps(record)
        except ValueError:
            pass
    return line if len(line) <= EXCERPT_WIDTH else line[:EXCERPT_WIDTH] + "…"


def excerpt_at(lines: list[str], at: int) -> str:
    """The cause line `at` and the few lines after it, as an excerpt."""
    return "\n".join(excerpt_line(x) for x in lines[at:at + 1 + EXCERPT_AFTER]).rstrip()


def runtime_line(lines: list[str], i: int) -> str | None:
    """The message when line `i` is a Go runtime failure (`panic:`, `fatal error:`, or
    `unexpected fault address` with the signal named after it), else None. Any Go program
    dies this way; what its own logger prints is its target's grammar."""
    line = lines[i].strip()
    if _GO_FAULT.match(line):
        message = "unexpected fault address"
        for nxt in lines[i + 1:i + 4]:
            sig = _GO_SIGNAL.match(nxt.strip())
            if sig:
                return f"{message} ({sig['sig']})"
        return message
    if m := _GO_PANIC.match(line) or _GO_FATAL.match(line):
        return line if line.startswith("fatal error") else m["msg"]
    return None


def runtime_cause(log: str) -> Cause | None:
    """The first Go runtime failure line in `log`, or None if there is none."""
    lines = log.splitlines()
    for i in range(len(lines)):
        message = runtime_line(lines, i)
        if message is not None:
            return Cause(message, normalise(message), excerpt_at(lines, i))
    return None


def line_cause(log: str, found: tuple[str, int] | None) -> Cause | None:
    """The `Cause` of a failure-line rule's find: its message and line number in `log`."""
    if found is None:
        return None
    message, at = found
    return Cause(message, normalise(message), excerpt_at(log.splitlines(), at))


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
    return Cause(last, normalise(last), "\n".join(excerpt_line(x) for x in lines[-8:]))


def tail_excerpt(log: str, lines: int = EXCERPT_AFTER) -> str:
    """The last non-empty lines of `log`, shortened as excerpts are (for a hang)."""
    kept = [x for x in log.splitlines() if x.strip()][-lines:]
    return "\n".join(excerpt_line(x) for x in kept)


def find_cause(log: str) -> Cause | None:
    """The cause of a failure in `log`: a Go runtime failure line if any, else the last line."""
    return runtime_cause(log) or last_line_cause(log)
