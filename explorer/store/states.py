"""Every enumerated state of one exploration, in enumeration order, on disk.

The driver appends each state as it is enumerated (its name, content key,
class and whether it repeats an earlier key); reports and the analysis
stream them back. One short msgpack record a state, buffered: this log
only lives as long as its exploration (in its work directory), so nothing
in it needs to survive a crash; what must survive is in the journal.
Memory stays flat however many states there are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import msgpack

from powercut.replayer.state import CrashState, StateName


class StateLog:
    """Append-only log of `CrashState`s (without images) in a file of its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._packer = msgpack.Packer(use_bin_type=True)
        self.count = 0
        self.distinct = 0  # states whose key no earlier state had

    def append(self, state: CrashState) -> None:
        self._file.write(self._packer.pack(
            [state.point, list(state.name.lost), state.content, state.markers, state.duplicate,
             state.class_]))
        self.count += 1
        self.distinct += not state.duplicate

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[CrashState]:
        if not self._file.closed:
            self._file.flush()
        with open(self.path, "rb") as f:
            for point, lost, content, markers, duplicate, class_ in msgpack.Unpacker(
                    f, raw=False):
                yield CrashState(point, StateName(point, tuple(lost)), content, markers,
                                 duplicate, class_)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
