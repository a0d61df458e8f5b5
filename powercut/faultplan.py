"""Fault injection at record time: which call the recorder fails, and with which errno.

`powercut record --fail CALL[:GLOB][@N] [--errno NAME]` fails the N-th call
of that kind whose path matches GLOB, as a disk that returned an I/O error
would: the program gets the errno, the trace records the call with an
`errno` field, and the persistence models decide what the failure leaves on
disk (README, "fsync failures"). A `FaultPlan` is consulted by the code that
answers each call that can fail, with the call's kind and trace path,
*before* the call reaches the backing file; it says the errno to fail with,
or None. It knows nothing of FUSE requests or handles, so whatever answers
the calls (the file-level recorder, or the image of the kernel file-system
mode, whose block writes and flushes are its writes and fsyncs) consults
the same plan; it lives on the floor for the sweep and the tests to name
faults too. Pure: no I/O.
"""

from __future__ import annotations

import errno
import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from powercut.errors import PowercutError

CALLS = ("fsync", "fdatasync", "write", "fsyncdir")
# What each --fail CALL matches: `fsync` is the family (a program that fdatasyncs is failed
# by `--fail fsync` too); `fdatasync` only the data syncs.
_MATCHES = {"fsync": {"fsync", "fdatasync"}, "fdatasync": {"fdatasync"},
            "write": {"write"}, "fsyncdir": {"fsyncdir"}}
_SPEC = re.compile(r"^(?P<call>[a-z]+)(?::(?P<glob>.*?))?(?:@(?P<nth>\d+))?$")


def errno_of(name: str | int) -> int:
    """An errno from its name (`EIO`, `ENOSPC`...) or number; PowercutError if unknown."""
    if isinstance(name, int) or name.isdigit():
        number = int(name)
        if number in errno.errorcode:
            return number
    elif re.fullmatch(r"E[A-Z0-9]+", name) and isinstance(getattr(errno, name, None), int):
        return int(getattr(errno, name))
    raise PowercutError(f"--errno {name}: not an errno name such as EIO or ENOSPC")


@dataclass(frozen=True)
class Fault:
    """Fail the `nth` call of kind `call` whose path matches `glob` with `errno`."""

    call: str
    glob: str = "*"
    nth: int = 1
    errno: int = errno.EIO

    @classmethod
    def parse(cls, spec: str, errno_name: str | int = "EIO") -> Fault:
        """`fsync`, `fdatasync:member/wal/*@3`, `write:*.aof@2`... (N counts from 1; an empty
        GLOB names the mount root, as an `fsyncdir` of it)."""
        m = _SPEC.match(spec.strip())
        if m is None or m.group("call") not in CALLS:
            raise PowercutError(f"--fail {spec}: expected CALL[:GLOB][@N] with CALL one of "
                                f"{', '.join(CALLS)} (e.g. fsync:data/*.log@2)")
        nth = int(m.group("nth") or 1)
        if nth < 1:
            raise PowercutError(f"--fail {spec}: @N counts matching calls from 1")
        glob = m.group("glob")
        return cls(m.group("call"), "*" if glob is None else glob, nth, errno_of(errno_name))

    def matches(self, call: str, path: str) -> bool:
        """Whether a call of kind `call` (`fsync`, `fdatasync`, `write`, `fsyncdir`) on the
        trace path `path` counts toward this fault. The glob is shell-style over the
        whole path (`*` crosses `/`); the mount root's path is ""."""
        return call in _MATCHES[self.call] and fnmatch.fnmatchcase(path, self.glob)

    @property
    def errno_name(self) -> str:
        return errno.errorcode.get(self.errno, str(self.errno))

    @property
    def spec(self) -> str:
        """The `--fail` text that makes this fault again."""
        where = "" if self.glob == "*" else f":{self.glob}"
        return f"{self.call}{where}@{self.nth}"

    def describe(self) -> str:
        return f"{self.spec} with {self.errno_name}"

    def header(self) -> dict[str, Any]:
        """The trace header's `fault` map."""
        return {"call": self.call, "path": self.glob, "nth": self.nth, "errno": self.errno,
                "errno_name": self.errno_name}


class FaultPlan:
    """The calls a recording fails: asked once per call that can fail, in the order they come.

    `matched` counts the calls that matched so far (the sweep's candidates,
    when the plan never fires); `fired` is the seq of the failed op once it
    has been recorded.
    """

    def __init__(self, fault: Fault | None = None) -> None:
        self.fault = fault
        self.matched = 0
        self.fired: int | None = None

    def consult(self, call: str, path: str) -> int | None:
        """The errno to fail this call with, or None to let it through."""
        fault = self.fault
        if fault is None or self.fired is not None or not fault.matches(call, path):
            return None
        self.matched += 1
        return fault.errno if self.matched == fault.nth else None

    def failed(self, seq: int) -> None:
        """The call the plan failed was recorded as op `seq`."""
        self.fired = seq
