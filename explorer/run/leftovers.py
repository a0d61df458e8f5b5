"""Clean up after an exploration that was killed outright: its checkers' programs and work dir.

Each exploration's work dir (`powercut-explore-*` under $TMPDIR or
`--workdir`) holds an `owner` file naming the process that made it (pid and
start time, so a reused pid is not mistaken for it). An exploration killed
with SIGKILL removes nothing, and its checkers' programs run on in their own
sessions (a server would run for ever). The next exploration that works in
the same parent directory finds the work dirs whose owner is gone, kills
every process that names such a dir on its command line (a server's
data dir, a command's `{dir}`) together with its process group, and
removes the dir.

It must never touch a work dir whose owner is alive or unknown, nor a
process that does not name a dead owner's dir, nor its own process group.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from powercut.process import kill_naming

PREFIX = "powercut-explore-"
OWNER = "owner"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]  # field 22: start time in clock ticks


def claim(root: Path) -> None:
    """Mark `root` as the work dir of this process."""
    started = _start_time(os.getpid())
    if started is not None:  # without /proc, no owner: the dir is never taken for dead
        (root / OWNER).write_text(f"{os.getpid()} {started}\n")


def _owner_gone(root: Path) -> bool:
    try:
        pid_text, started = (root / OWNER).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return False  # no owner file (yet): not ours to judge
    return _start_time(pid) != started


def reap(parent: Path) -> list[Path]:
    """Kill the orphaned checkers of dead explorations under `parent`, remove their dirs."""
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(PREFIX) and p.is_dir()]
    except OSError:
        return []
    removed = []
    for root in candidates:
        if not _owner_gone(root):
            continue
        kill_naming(root)  # its checkers' programs, in their own sessions
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed
