"""Figure 4: how much slower etcd runs through the recorder than on a plain directory.

The workload is `etcd-writes`: etcd bootstraps, then takes `--puts`
acknowledged client writes (each an intent and an acknowledgement marker),
then stops. "Plain" runs it on a temp directory of the same disk (its
marker file is a real file there, so the workload does the same writes);
"recorded" runs it through `record()`: mount, trace, markers, unmount,
footer. Reps are interleaved and alternate which goes first, and the
figure is the median of the per-rep ratios, so drift on a shared machine
hits both sides alike.

    .venv/bin/python -m bench.record_overhead [--reps 5] [--puts 1000] [--etcd-bin PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.context import Context
from bench.figures import Figure, Target
from powercut.recorder.markers import CONTROL_DIR, MARKER_FILE
from powercut.recorder.record import record
from powercut.recorder.workload_etcd_writes import EtcdWrites

RATIO_TARGET = Target("<=", 2.0)
TIMEOUT = 300.0


def plain(work: EtcdWrites) -> float:
    with tempfile.TemporaryDirectory(prefix="powercut-bench-") as tmp:
        data = Path(tmp) / "data"
        (data / CONTROL_DIR).mkdir(parents=True)
        (data / CONTROL_DIR / MARKER_FILE).touch()
        started = time.perf_counter()
        outcome = work.run(data, Path(tmp), timeout=TIMEOUT)
        elapsed = time.perf_counter() - started
    if not outcome.ok:
        raise RuntimeError(f"plain etcd-writes failed: {outcome.detail}")
    return elapsed


def recorded(work: EtcdWrites) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="powercut-bench-") as tmp:
        started = time.perf_counter()
        result = record(Path(tmp) / "bench.trace", work, timeout=TIMEOUT)
        elapsed = time.perf_counter() - started
    if result.status != "complete":
        raise RuntimeError(f"recorded etcd-writes failed: {result.detail}")
    return elapsed, result.ops


def measure(work: EtcdWrites, reps: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"plain": [], "recorded": [], "ops": []}
    for rep in range(reps):
        for side in ("plain", "recorded") if rep % 2 == 0 else ("recorded", "plain"):
            if side == "plain":
                times["plain"].append(plain(work))
            else:
                seconds, ops = recorded(work)
                times["recorded"].append(seconds)
                times["ops"].append(ops)
    return times


def figures_of(work: EtcdWrites, times: dict[str, list[float]]) -> list[Figure]:
    ratios = [r / p for p, r in zip(times["plain"], times["recorded"], strict=True)]
    plain_m, rec_m = statistics.median(times["plain"]), statistics.median(times["recorded"])
    reps = len(ratios)
    ops = int(statistics.median(times["ops"]))
    what = f"etcd {work.version} bootstrap + {work.puts} acknowledged puts"
    return [
        Figure("4 record", "plain directory, median", plain_m, " s", detail=f"{what}, {reps} reps"),
        Figure("4 record", "through the recorder, median", rec_m, " s",
               detail=f"{ops} ops recorded, mount to footer"),
        Figure("4 record", "recorded / plain", statistics.median(ratios), "x", RATIO_TARGET,
               f"median of {reps} interleaved pairs (min {min(ratios):.2f}, "
               f"max {max(ratios):.2f}); per op {1000 * (rec_m - plain_m) / ops:.2f} ms more"),
    ]


def run(ctx: Context) -> list[Figure]:
    work = EtcdWrites.with_binary(ctx.binary, puts=1000)
    return figures_of(work, measure(work, 3 if ctx.quick else 7))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--puts", type=int, default=1000)
    parser.add_argument("--etcd-bin", default="/usr/bin/etcd")
    args = parser.parse_args()
    work = EtcdWrites.with_binary(args.etcd_bin, puts=args.puts)
    for f in figures_of(work, measure(work, args.reps)):
        print(f.line())


if __name__ == "__main__":
    main()
