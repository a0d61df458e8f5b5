"""Finding the guardian a powercut process started (`powercut.guard`), to kill it too."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def guardian_of(pid: int) -> int:
    """The guardian process `pid` started (in a session of its own)."""
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid and b"powercut.guard" in \
                    Path(f"/proc/{entry}/cmdline").read_bytes():
                return int(entry)
    raise AssertionError(f"process {pid} has no guardian")
