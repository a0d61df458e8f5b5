"""Figure 7: memory stays flat in the number of states, enumerated or checked.

Synthetic traces (`synthetic.pages_trace`) whose last crash point holds
2^n legal states (n unsynced pages of one file; 2^(n+1) over the trace),
from about 10^3 (n = 10) to 10^6 (n = 20). Each run is `powercut explore`
in a fresh process; its peak RSS is the kernel's high-water mark of that
process (`bench/peak.py`: not `wait4`'s, which carries the bench's own RSS
across the fork), its wall time the bench's clock:

- `--dry-run --strategy exhaustive`: every legal state enumerated, named,
  deduplicated and written to the dry-run document;
- a full exploration with defaults (`--budget 2000`) judged by a command
  checker (`test -d {dir}`), on the smallest and the largest trace;
- the largest trace explored with `--budget 200` and `--budget 5000`:
  peak RSS independent of the number of states checked.

Flat means the peak at the large end is at most 1.2x the peak at the small
end (the interpreter and its imports are most of both).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.context import REPO, Context
from bench.figures import Figure, Target
from bench.synthetic import pages_trace

FLAT = Target("<=", 1.2)
PAGES = (10, 14, 17, 20)
QUICK_PAGES = (10, 17)
CHECK = "test -d {dir}"


def measure(args: list[str], work: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of `powercut ARGS` in a fresh process."""
    peak = work / "peak.kib"
    peak.unlink(missing_ok=True)
    started = time.monotonic()
    with open(work / "out.log", "wb") as out:
        done = subprocess.run([sys.executable, "-m", "bench.peak", str(peak), *args],
                              cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    wall = time.monotonic() - started
    if done.returncode not in (0, 1) or not peak.exists():
        raise RuntimeError(f"powercut {' '.join(args)} exited {done.returncode}: "
                           + (work / "out.log").read_text()[-500:])
    return int(peak.read_text()) / 1024, wall


def run(ctx: Context) -> list[Figure]:
    pages = QUICK_PAGES if ctx.quick else PAGES
    traces = {n: pages_trace(ctx.work / f"pages-{n}.trace", n) for n in pages}
    dry = {n: measure(["explore", str(t), "--dry-run", "--strategy", "exhaustive", "--json",
                       str(ctx.work / f"dry-{n}.json")], ctx.work)
           for n, t in traces.items()}
    small, large = pages[0], pages[-1]
    figures = [Figure("7 memory", f"dry-run peak RSS, 2^{n} states at a point", rss, " MiB",
                      detail=f"{2 ** (n + 1) - 1} states over the trace in {wall:.1f} s "
                             f"({(2 ** (n + 1) - 1) / wall:,.0f}/s)")
               for n, (rss, wall) in dry.items()]
    figures.append(Figure("7 memory", f"dry-run peak RSS, 2^{large} / 2^{small} states",
                          dry[large][0] / dry[small][0], "x", FLAT))
    explore = ["explore", "--check-cmd", CHECK, "--no-cache", "--workers",
               str(max(ctx.workers))]
    full = {n: measure([*explore[:1], str(traces[n]), *explore[1:]], ctx.work)
            for n in (small, large)}
    figures.append(Figure(
        "7 memory", f"explore peak RSS, 2^{large} / 2^{small} states at a point",
        full[large][0] / full[small][0], "x", FLAT,
        f"{full[small][0]:.0f} MiB ({full[small][1]:.0f} s) vs {full[large][0]:.0f} MiB "
        f"({full[large][1]:.0f} s), default budget, checker `{CHECK}`"))
    budgets = {b: measure([*explore[:1], str(traces[large]), *explore[1:], "--budget", str(b)],
                          ctx.work) for b in (200, 5000)}
    figures.append(Figure(
        "7 memory", "explore peak RSS, 5000 / 200 states checked",
        budgets[5000][0] / budgets[200][0], "x", FLAT,
        f"{budgets[200][0]:.0f} MiB ({budgets[200][1]:.0f} s) vs {budgets[5000][0]:.0f} MiB "
        f"({budgets[5000][1]:.0f} s) on the 2^{large} trace"))
    return figures
