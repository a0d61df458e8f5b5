"""How much slower etcd bootstraps through the recorder than on a plain directory.

Runs the same etcd bootstrap (start, healthy, stop) side by side: on a plain
temp directory, and through `record()` (mount, trace, unmount included), a
few times each, and prints the medians and their ratio.

    .venv/bin/python bench/record_overhead.py [--reps 5] [--etcd-bin PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from powercut.recorder.record import record
from powercut.recorder.workloads import EtcdBootstrap


def plain(work: EtcdBootstrap) -> float:
    with tempfile.TemporaryDirectory(prefix="powercut-bench-") as tmp:
        (Path(tmp) / "data").mkdir()
        started = time.monotonic()
        outcome = work.run(Path(tmp) / "data", Path(tmp), timeout=60)
        elapsed = time.monotonic() - started
    assert outcome.ok, outcome.detail
    return elapsed


def recorded(work: EtcdBootstrap) -> float:
    with tempfile.TemporaryDirectory(prefix="powercut-bench-") as tmp:
        started = time.monotonic()
        result = record(Path(tmp) / "bench.trace", work, timeout=60)
        elapsed = time.monotonic() - started
    assert result.status == "complete", result.detail
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--etcd-bin", default=None)
    args = parser.parse_args()
    work = EtcdBootstrap.with_binary(args.etcd_bin)
    times: dict[str, list[float]] = {"plain": [], "recorded": []}
    for _ in range(args.reps):  # interleaved, so drift hits both alike
        times["plain"].append(plain(work))
        times["recorded"].append(recorded(work))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"etcd {work.version} bootstrap, median of {args.reps}:")
    print(f"  plain directory   {med['plain']:.3f}s")
    print(f"  through recorder  {med['recorded']:.3f}s")
    print(f"  ratio             {med['recorded'] / med['plain']:.2f}x")


if __name__ == "__main__":
    main()
