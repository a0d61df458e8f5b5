"""The checker protocol: judge one materialised crash state and say why.

A checker gets the directory a crash state was materialised into (the
mount root of the trace) and the markers recorded before the crash point,
and returns a `Verdict` with its evidence. It may keep resources between
states (a resolved binary, a port pool) and releases them in `close()`.
A checker must never write outside the state directory and the scratch
directory it is given, and never leave a process behind when `check`
returns or raises.
"""

from __future__ import annotations

import abc
import contextvars
import dataclasses
import hashlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from powercut.explorer.checkers.signature import (
    Cause,
    last_line_cause,
    runtime_cause,
    tail_excerpt,
)
from powercut.explorer.verdict import Evidence, Verdict
from powercut.process import Child, Exit, log_tail, log_text
from powercut.trace import Op

DEFAULT_TIMEOUT = 10.0
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Within the block, checkers that ask `limit()` give up after `seconds` (a suspected
    hang, decided early; the driver confirms it at the full timeout)."""
    token = _DEADLINE.set(seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


class Checker(abc.ABC):
    """Judges crash states. Subclasses implement `check` and `describe`.

    `uses_markers` declares that a verdict depends on the markers before
    the crash point (acknowledged writes read back): two states with equal
    trees and different markers are then judged apart. `evidence_fields`
    names the fields of its own the checker puts in `Evidence.fields` (the
    reports show them with each root cause).
    """

    name: str = "checker"
    timeout: float = DEFAULT_TIMEOUT  # seconds a state has to recover before it is a hang
    uses_markers: bool = False
    evidence_fields: ClassVar[tuple[str, ...]] = ()
    # The programs bind ports the state's own data fixes (a cluster's peer URLs): each check
    # then runs in a network namespace of its own, with its own loopback, where the kernel
    # allows it (`powercut.namespaces.own_network`), so checks never collide on a port.
    own_network: bool = False

    @abc.abstractmethod
    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        """Run the program on the state in `directory` and judge it.

        `scratch` is a directory of this state's own for logs and files the
        checker needs (a marker file); without it the checker makes and
        removes a temporary one.
        """

    @abc.abstractmethod
    def describe(self) -> str:
        """One line naming the checker and what it runs, e.g. "command: ./check {dir}"."""

    def limit(self) -> float:
        """Seconds this check may wait for the program: the timeout, or the exploration's
        earlier deadline for suspected hangs (see `deadline`)."""
        early = _DEADLINE.get()
        return self.timeout if early is None else min(self.timeout, early)

    def identity(self) -> str:
        """Everything a verdict depends on besides the state, as one line.

        Verdicts are stored (journal, results cache) under the state's content
        key and this identity, so it must change whenever the same state could
        be judged differently: another binary or command, other settings, a
        different timeout. Subclasses add what `describe` leaves out.
        """
        return f"{self.describe()} timeout={self.timeout:g}"

    def close(self) -> None:  # noqa: B027 - most checkers hold nothing
        """Release what the checker holds; it is not used afterwards."""

    def __enter__(self) -> Checker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DIGESTS: dict[tuple[str, int, int, int, int, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def file_fingerprint(path: Path | str) -> str:
    """The identity of a file's content: `sha256:<hex>` ("missing", "unreadable").

    Not size and mtime: an edit that keeps both (a same-length fix, `touch -r`,
    a copy with `cp -p`) must not reuse old verdicts. Digests are kept per
    process by path, inode, size, mtime and ctime, so a large binary is read
    once however often its checker's identity is asked for.
    """
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "not a file"
    key = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
           st.st_ctime_ns, st.st_mode)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
    if known is not None:
        return known
    try:
        with open(path, "rb") as f:
            digest = "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return "unreadable"
    with _DIGESTS_LOCK:
        _DIGESTS[key] = digest
    return digest


@contextmanager
def scratch_dir(scratch: Path | None) -> Iterator[Path]:
    """`scratch` itself, or a temporary directory removed on leaving."""
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
        yield scratch
        return
    with tempfile.TemporaryDirectory(prefix="powercut-check-") as tmp:
        yield Path(tmp)


def write_markers(markers: Sequence[Op], path: Path) -> Path:
    """The markers as one JSON object a line (the `{markers}` file of the command checker)."""
    with open(path, "w") as f:
        for m in markers:
            record = {"seq": m.seq, "text": m.text, **{k: _plain(v) for k, v in m.extra.items()}}
            f.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def failure_verdict(verdict: str, child: Child, exit: Exit | None, *,
                    rule: Callable[[str], Cause | None] | None = None,
                    evidence: Evidence | None = None) -> Verdict:
    """A failing verdict with the child's evidence: exit, signal, log tail, cause and excerpt.

    The cause of an exit is the line `rule` (the target's failure-line
    rule; by default a Go runtime failure, any Go program's) finds in its
    log; else a signal that killed the program; else the last line it
    printed. A hang is grouped as one, whatever it printed last, unless the
    Go runtime said it failed before it stopped answering.
    """
    text = log_text(child.log)
    last = last_line_cause(text)
    cause: Cause | None
    if verdict == "hang":
        # What a hung program printed last depends on when it was stopped, so
        # it goes in the excerpt, not in the signature that groups hangs.
        failed = runtime_cause(text)
        signature = f"hang after: {failed.signature}" if failed else "no answer within the timeout"
        cause = failed or Cause("", signature, tail_excerpt(log_tail(child.log)))
    elif (found := (rule or runtime_cause)(text)) is not None:
        cause, signature = found, found.signature
    elif exit is not None and exit.signal is not None:
        cause, signature = last, exit.describe
    elif last is not None:
        cause, signature = last, last.signature
    else:
        cause, signature = None, f"{exit.describe if exit else 'failed'} with no output"
    base = evidence or Evidence()
    return Verdict(
        verdict=verdict,  # type: ignore[arg-type]
        signature=signature,
        exit_status=exit.status if exit else None,
        signal=exit.signal if exit else None,
        log_tail=log_tail(child.log),
        excerpt=cause.excerpt if cause else "",
        duration=child.elapsed,
        evidence=base if base.argv else dataclasses.replace(base, argv=tuple(child.argv)),
    )
