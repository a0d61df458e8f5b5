"""Wall time of an exhaustive exploration with the real etcd, by worker count.

Usage: .venv/bin/python bench/explore_bench.py [TRACE] [--workers 1,2] [--etcd-bin PATH]
       [--timeout S]

Prints one JSON line per worker count: wall time, the counts (crash points,
enumerated, distinct, checked), verdicts over all and over distinct states,
the checker time spent per verdict kind (hangs cost the whole --timeout
each), and the failure signatures. Default trace: the committed etcd 3.4
bootstrap trace with the etcd it was recorded with.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from powercut.explorer.checkers import DEFAULT_TIMEOUT, EtcdChecker, resolve_etcd_bin
from powercut.explorer.drive import explore
from powercut.recorder.trace_format import open_trace

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", default=str(REPO / "traces/etcd-3.4-bootstrap.trace"))
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--etcd-bin")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    args = parser.parse_args()
    trace = open_trace(args.trace)
    binary = resolve_etcd_bin(trace.workload, args.etcd_bin)
    for workers in (int(w) for w in args.workers.split(",")):
        started = time.monotonic()
        with EtcdChecker(binary, trace.workload, timeout=args.timeout) as checker:
            e = explore(trace, checker, "lazyfs", workers=workers)
        wall = time.monotonic() - started
        distinct = [j for j in e.judged if not j.state.duplicate]
        kinds = {j.verdict.kind for j in distinct}
        print(json.dumps({
            "trace": args.trace, "checker": e.checker, "workers": workers,
            "wall_s": round(wall, 1), "crash_points": len(e.crash_points),
            "enumerated": e.enumerated, "distinct": e.distinct, "checked": e.checked,
            "verdicts": Counter(j.verdict.kind for j in e.judged),
            "verdicts_distinct": Counter(j.verdict.kind for j in distinct),
            "check_s_by_kind": {k: round(sum(j.verdict.duration for j in distinct
                                             if j.verdict.kind == k), 1) for k in sorted(kinds)},
            "signatures": Counter(j.verdict.signature for j in distinct if j.verdict.failing),
        }), flush=True)


if __name__ == "__main__":
    main()
