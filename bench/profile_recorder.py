"""Where the recorder's time goes: every FUSE handler timed, and py-spy over the FUSE thread.

Records the figure-4 workload (etcd bootstrap + `--writes` acknowledged
puts) once through `record()`, with the recording file system swapped for
a subclass whose handlers add up their own wall time and call count (the
handlers are plain code with no `await`, so that is their whole cost on
the FUSE thread). When py-spy is installed (`.venv/bin/pip install
py-spy`) it samples this process meanwhile, and the samples of the FUSE
thread are folded by the innermost powercut, pyfuse3, msgpack or stdlib
function (self time). It prints both tables, the FUSE thread's busy
share of the recording, and the latency of one write request (and one
write + fdatasync) through the recorder and on a plain directory. Only
this module patches anything, and only in its own process; recorder/ is
not touched.

    .venv/bin/python -m bench.profile_recorder [--writes 1000] [--etcd-bin PATH] [--rate 400]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from powercut.recorder import record as record_module
from powercut.recorder.fs import RecorderFS
from powercut.recorder.workload import Command
from powercut.targets.etcd.workloads import EtcdWrites
from powercut.trace import open_trace

HANDLERS = ("lookup", "forget", "getattr", "setattr", "readlink", "mknod", "mkdir", "unlink",
            "rmdir", "symlink", "rename", "link", "open", "create", "read", "write", "flush",
            "release", "fsync", "opendir", "readdir", "releasedir", "fsyncdir", "statfs")


class Tally:
    """Calls and nanoseconds per handler (only the FUSE thread adds, so no lock)."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.ns: collections.Counter[str] = collections.Counter()


def timed_fs(tally: Tally) -> type[RecorderFS]:
    """RecorderFS with every handler timed into `tally`."""

    def wrap(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(self: RecorderFS, *args: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return await handler(self, *args)
            finally:
                tally.ns[name] += time.perf_counter_ns() - started
                tally.calls[name] += 1
        return timed

    return type("TimedRecorderFS", (RecorderFS,),
                {name: wrap(name, getattr(RecorderFS, name)) for name in HANDLERS})


@contextlib.contextmanager
def sampling(rate: int, out: Path) -> Any:
    """py-spy sampling this process (raw folded stacks, per thread) while inside."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        yield None
        return
    proc = subprocess.Popen([spy, "record", "--pid", str(os.getpid()), "--rate", str(rate),
                             "--format", "raw", "--threads", "--idle", "--nonblocking",
                             "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fold(raw: Path, native_id: int) -> tuple[collections.Counter[str], int, int]:
    """Samples per innermost frame on the FUSE thread (idle included); its samples; all."""
    leaves: collections.Counter[str] = collections.Counter()
    mine = total = 0
    tag = f"thread ({native_id})"
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        if not frames or tag not in frames[0]:
            continue
        mine += n
        leaves[_leaf(frames[1:])] += n
    return leaves, mine, total


def _leaf(frames: list[str]) -> str:
    # Innermost frame, named "function (file)"; the C calls py-spy cannot see are in it.
    if not frames:
        return "(idle)"
    name = frames[-1]
    func, _, where = name.partition(" (")
    return f"{func} ({Path(where.split(':')[0]).name})"


# Per-request latency, timed inside a child process so that nothing of this one competes.
_ROUND_TRIP = """
import json, os, sys, time
d, out, n = sys.argv[1], sys.argv[2], 2000
fd = os.open(os.path.join(d, "f"), os.O_CREAT | os.O_WRONLY, 0o644)
t0 = time.perf_counter()
for i in range(n):
    os.pwrite(fd, b"x" * 100, i * 100)
t1 = time.perf_counter()
for i in range(n // 4):
    os.pwrite(fd, b"y" * 100, i * 100)
    os.fdatasync(fd)
t2 = time.perf_counter()
os.close(fd)
json.dump({"write": (t1 - t0) / n, "write+fdatasync": (t2 - t1) / (n // 4)}, open(out, "w"))
"""


def round_trip() -> dict[str, dict[str, float]]:
    """Seconds per 100-byte pwrite, and per pwrite + fdatasync: plain dir vs the recorder
    (and the recorder's handlers alone, uncontended: this process only waits)."""
    got: dict[str, dict[str, float]] = {}
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="powercut-bench-") as tmp:
        script, out = Path(tmp) / "rt.py", Path(tmp) / "rt.json"
        script.write_text(_ROUND_TRIP)
        (Path(tmp) / "plain").mkdir()
        subprocess.run([sys.executable, str(script), str(Path(tmp) / "plain"), str(out)],
                       check=True)
        got["plain"] = json.loads(out.read_text())
        argv = (sys.executable, str(script), "{mnt}", str(out))
        record_module.RecorderFS = timed_fs(tally)  # type: ignore[misc]
        try:
            result = record_module.record(Path(tmp) / "rt.trace", Command(argv), timeout=120)
        finally:
            record_module.RecorderFS = RecorderFS  # type: ignore[misc]
        if result.status != "complete":
            raise RuntimeError(f"round-trip workload failed: {result.detail}")
        got["recorded"] = json.loads(out.read_text())
    got["handler"] = {name: tally.ns[name] / 1e9 / tally.calls[name] for name in ("write", "fsync")}
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--etcd-bin", default="/usr/bin/etcd")
    parser.add_argument("--rate", type=int, default=400, help="py-spy samples per second")
    args = parser.parse_args()
    work = EtcdWrites.with_binary(args.etcd_bin, writes=args.writes)
    tally = Tally()
    fuse_thread: list[int] = []
    original = threading.Thread.start

    def spot(self: threading.Thread) -> None:
        original(self)
        if self.name == "powercut-fuse":
            fuse_thread.append(self.native_id or 0)

    with tempfile.TemporaryDirectory(prefix="powercut-bench-") as tmp:
        raw = Path(tmp) / "spy.txt"
        record_module.RecorderFS = timed_fs(tally)  # type: ignore[misc]
        threading.Thread.start = spot  # type: ignore[method-assign]
        try:
            with sampling(args.rate, raw) as spy:
                started = time.perf_counter()
                result = record_module.record(Path(tmp) / "p.trace", work, timeout=300)
                wall = time.perf_counter() - started
        finally:
            record_module.RecorderFS = RecorderFS  # type: ignore[misc]
            threading.Thread.start = original  # type: ignore[method-assign]
        ops = collections.Counter(op.op for op in open_trace(result.path).ops())
        print(f"recorded {result.ops} ops in {wall:.2f} s ({result.status}); trace ops: "
              + ", ".join(f"{k} {v}" for k, v in ops.most_common()))
        busy = sum(tally.ns.values()) / 1e9
        print(f"FUSE handlers busy {busy:.2f} s = {100 * busy / wall:.0f}% of the recording, "
              f"{sum(tally.calls.values())} requests")
        print(f"{'handler':<11} {'calls':>7} {'total ms':>9} {'us/call':>8}")
        for name, ns in tally.ns.most_common():
            print(f"{name:<11} {tally.calls[name]:>7} {ns / 1e6:>9.1f} "
                  f"{ns / 1e3 / tally.calls[name]:>8.1f}")
        rt = round_trip()
        print("per request, from a separate process: " + "; ".join(
            f"{what} {1e6 * rt['plain'][what]:.0f} us plain, "
            f"{1e6 * rt['recorded'][what]:.0f} us recorded" for what in rt["plain"])
            + "; inside them the handlers took " + ", ".join(
            f"{name} {1e6 * t:.0f} us" for name, t in rt["handler"].items()))
        if spy is None or not raw.exists() or not fuse_thread:
            print("(py-spy not installed: no sampled profile)")
            return
        leaves, mine, total = fold(raw, fuse_thread[0])
        print(f"py-spy: {total} samples, {mine} on the FUSE thread; where it was, innermost "
              "frame (waiting included):")
        for name, n in leaves.most_common(15):
            print(f"  {100 * n / max(mine, 1):5.1f}%  {name}")


if __name__ == "__main__":
    main()
