"""Run `powercut ARGS` and write this process's own peak RSS to a file.

    python -m bench.peak OUT ARGS...

The peak is the kernel's high-water mark of this process's memory
(`VmHWM` in /proc/self/status), taken as powercut returns. `ru_maxrss`
from `wait4` is not the child's own: Linux carries the RSS of the process
that forked it across `exec`, so every child of a large bench process
would read at least as large as the bench.
"""

from __future__ import annotations

import sys
from pathlib import Path


def peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmHWM line")


def main() -> int:
    out, args = Path(sys.argv[1]), sys.argv[2:]
    from powercut.cli import main as powercut
    try:
        return powercut(args)
    finally:
        out.write_text(f"{peak_kib()}\n")


if __name__ == "__main__":
    sys.exit(main())
