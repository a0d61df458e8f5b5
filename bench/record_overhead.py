"""Figure 4: how much slower etcd runs through the recorder than on a plain directory.

The workload is `etcd-writes`: etcd bootstraps, then takes `--writes`
acknowledged client writes (each an intent and an acknowledgement marker),
then stops. "Plain" runs it on a temp directory of the same disk (its
marker file is a real file there, so the workload does the same writes);
"recorded" runs it through `record()`: mount, trace, markers, unmount,
footer. Reps are interleaved and alternate which goes first, and the
figure is the median of the per-rep ratios, so drift on a shared machine
hits both sides alike. The puts phase is also timed alone: etcd's first
election takes a random few hundred milliseconds, which is most of the
spread of the whole-run ratio. `profile_recorder` says where the time goes.

    .venv/bin/python -m bench.record_overhead [--reps 5] [--writes 1000] [--etcd-bin PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.context import Context
from bench.figures import Figure, Target
from powercut.recorder.markers import CONTROL_DIR, MARKER_FILE
from powercut.recorder.record import record
from powercut.recorder.workload import WorkloadResult
from powercut.targets.etcd import workloads
from powercut.targets.etcd.workloads import EtcdWrites

RATIO_TARGET = Target("<=", 1.5)
TIMEOUT = 300.0


@dataclass(frozen=True)
class PhasedWrites(EtcdWrites):
    """`etcd-writes` that notes when its puts start and end (in `phases`), to split
    the bootstrap (its election delay is random) from the puts."""

    phases: list[float] = field(default_factory=list, compare=False)

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        real = workloads.send_writes

        def timed(*args: Any, **kwargs: Any) -> str | None:
            self.phases.append(time.perf_counter())
            try:
                return real(*args, **kwargs)
            finally:
                self.phases.append(time.perf_counter())

        workloads.send_writes = timed  # type: ignore[assignment]
        try:
            return super().run(mnt, workdir, timeout)
        finally:
            workloads.send_writes = real  # type: ignore[assignment]

    @classmethod
    def of(cls, etcd_bin: Path | str, puts: int) -> PhasedWrites:
        base = EtcdWrites.with_binary(etcd_bin, writes=puts)
        return cls(base.etcd_bin, base.version, writes=puts)

    def puts_seconds(self) -> float:
        start, end = self.phases[-2:]
        return end - start


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


def measure(work: PhasedWrites, reps: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"plain": [], "recorded": [], "ops": [],
                                     "plain puts": [], "recorded puts": []}
    for rep in range(reps):
        for side in ("plain", "recorded") if rep % 2 == 0 else ("recorded", "plain"):
            if side == "plain":
                times["plain"].append(plain(work))
            else:
                seconds, ops = recorded(work)
                times["recorded"].append(seconds)
                times["ops"].append(ops)
            times[f"{side} puts"].append(work.puts_seconds())
    return times


def _ratios(times: dict[str, list[float]], what: str = "") -> list[float]:
    return [r / p for p, r in zip(times[f"plain{what}"], times[f"recorded{what}"], strict=True)]


def figures_of(work: EtcdWrites, times: dict[str, list[float]]) -> list[Figure]:
    ratios, put_ratios = _ratios(times), _ratios(times, " puts")
    plain_m, rec_m = statistics.median(times["plain"]), statistics.median(times["recorded"])
    put_plain, put_rec = (statistics.median(times[k]) for k in ("plain puts", "recorded puts"))
    reps = len(ratios)
    ops = int(statistics.median(times["ops"]))
    what = f"etcd {work.version} bootstrap + {work.writes} acknowledged puts"
    return [
        Figure("4 record", "plain directory, median", plain_m, " s", detail=f"{what}, {reps} reps"),
        Figure("4 record", "through the recorder, median", rec_m, " s",
               detail=f"{ops} ops recorded, mount to footer"),
        Figure("4 record", "recorded / plain", statistics.median(ratios), "x", RATIO_TARGET,
               f"median of {reps} interleaved pairs (min {min(ratios):.2f}, "
               f"max {max(ratios):.2f})"),
        Figure("4 record", "puts phase alone, recorded / plain", statistics.median(put_ratios),
               "x", detail=f"{put_plain:.2f} s vs {put_rec:.2f} s for {work.writes} puts: "
                           f"{1000 * (put_rec - put_plain) / work.writes:.2f} ms more per put "
                           f"(min {min(put_ratios):.2f}, max {max(put_ratios):.2f})"),
    ]


def run(ctx: Context) -> list[Figure]:
    work = PhasedWrites.of(ctx.binary, 1000)
    return figures_of(work, measure(work, 5 if ctx.quick else 11))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--etcd-bin", default="/usr/bin/etcd")
    args = parser.parse_args()
    work = PhasedWrites.of(args.etcd_bin, args.writes)
    for f in figures_of(work, measure(work, args.reps)):
        print(f.line())


if __name__ == "__main__":
    main()
