"""One run of a fault sweep: record the workload with one call failing, then judge what it left.

`run_job` records the workload (its N-th matching call failed, or none for
the clean run that counts the candidates), reads how the program reacted
(`reaction`), and explores the crash states from the failed call on with
the target's checker and the durability oracle, under the persistence
model asked for. It returns a `FaultRun`: small plain values that travel
back from a Dask worker. `run_in_child` runs a job in a process of its own
(the recorder's FUSE mount is one per process, so parallel runs need
processes), stopped with SIGTERM so it can unmount: the way every sweep
runs its jobs, on a thread here or on a Dask worker. Nothing here names a
target.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from powercut.errors import PowercutError
from powercut.explorer.checkers import Checker
from powercut.explorer.report.jsonfile import cause_dict, write_json
from powercut.explorer.run.drive import explore
from powercut.explorer.store.cache import ResultsCache
from powercut.faultplan import Fault
from powercut.faults.reaction import Reaction, react
from powercut.process import Child, log_tail
from powercut.recorder.kernel import OnKernel
from powercut.recorder.record import record
from powercut.recorder.workload import Workload
from powercut.replayer.models import get_model
from powercut.session.choice import choose_checker
from powercut.trace import Op, Trace, open_trace

STOP_GRACE = 20.0  # seconds a job has to unmount and stop its workload once told to stop
PRINTED_CHARS = 600  # what a run keeps of what the program said


@dataclass(frozen=True)
class Judging:
    """How a fault run's crash states are judged: checker, model, budget, cache."""

    checker: str | None = None  # default: the checker of the workload's target
    options: dict[str, Any] = field(default_factory=dict)  # the checker's target options
    model: str = "lazyfs"
    fsync_failure: str = "keep"
    budget: int = 100  # distinct states per fault run
    timeout: float = 10.0  # per state
    cause_budget: int = 64
    cache: str | None = None  # results cache directory (None: none)


@dataclass(frozen=True)
class FaultJob:
    """Run `index` of a sweep: the workload with `fault` (None: the clean run)."""

    index: int
    workload: Workload
    fault: Fault | None
    trace: Path
    timeout: float
    judging: Judging
    template: Fault | None = None  # the clean run counts the calls this matches
    on_kernel: OnKernel | None = None  # `--fs`: the calls are the image's writes and flushes


@dataclass(frozen=True)
class FaultRun:
    """What one run of a sweep found."""

    index: int
    fault: str  # the --fail spec, "" for the clean run
    trace: str
    status: str  # the trace's footer status
    detail: str  # how the workload ended
    ops: int = 0
    candidates: int = 0  # the clean run: matching calls (the faults to sweep)
    reaction: Reaction | None = None
    states: int = 0  # enumerated
    checked: int = 0  # distinct states run through the checker
    verdicts: dict[str, int] = field(default_factory=dict)
    causes: tuple[dict[str, Any], ...] = ()
    record_seconds: float = 0.0
    explore_seconds: float = 0.0
    report: str = ""  # the JSON report of its exploration
    error: str = ""  # the run could not be made or judged (not a finding)

    @property
    def lost(self) -> tuple[str, ...]:
        """Acknowledged keys its causes lost, in order."""
        return tuple(dict.fromkeys(k for c in self.causes for k in c.get("missing", ())))

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "fault": self.fault, "trace": self.trace,
                "status": self.status, "detail": self.detail, "ops": self.ops,
                "candidates": self.candidates,
                "reaction": self.reaction.to_json() if self.reaction else None,
                "states": self.states, "checked": self.checked, "verdicts": self.verdicts,
                "causes": [{k: c[k] for k in ("id", "kind", "verdict", "barrier", "summary",
                                              "missing", "points")} for c in self.causes],
                "lost": list(self.lost), "record_seconds": round(self.record_seconds, 2),
                "explore_seconds": round(self.explore_seconds, 2), "report": self.report,
                "error": self.error}


def call_of(op: Op) -> str | None:
    """The kind of call an op was, as `--fail` names it (None: not one that can fail)."""
    if op.op == "fsync":
        return "fdatasync" if op.datasync else "fsync"
    return op.op if op.op in ("write", "fsyncdir") else None


def candidates(trace: Trace, template: Fault) -> int:
    """How many calls of `trace` the fault template matches (the sweep's runs)."""
    return sum(1 for op in trace.ops() if (call := call_of(op)) is not None and not op.failed
               and template.matches(call, op.path or ""))


def make_checker(trace: Trace, judging: Judging) -> Checker:
    """The checker that judges `trace`: the session's choice (by name, or the trace's
    target's own; on the kernel's recovery of each image for a `--fs` trace)."""
    return choose_checker(trace, judging.checker, judging.options, timeout=judging.timeout)


def run_job(job: FaultJob) -> FaultRun:
    """Record, react, judge: one run of a sweep, in this process."""
    spec = job.fault.spec if job.fault is not None else ""
    started = time.monotonic()
    result = record(job.trace, job.workload, timeout=job.timeout, fault=job.fault,
                    argv=["powercut", "faults", *(["--fail", spec] if spec else [])],
                    on_kernel=job.on_kernel)
    recorded = time.monotonic() - started
    trace = open_trace(job.trace)
    run = FaultRun(job.index, spec, str(job.trace), result.status, result.detail,
                   ops=trace.op_count, record_seconds=recorded)
    if job.fault is None:
        assert job.template is not None
        return replace(run, candidates=candidates(trace, job.template))
    printed = "\n".join([*result.said, result.detail[-PRINTED_CHARS:]])
    reaction = react(trace.ops(), exited=result.exited, printed=printed,
                     complete=result.status == "complete")
    run = replace(run, reaction=reaction)
    if reaction.failed is None:
        return run
    return _judge(run, trace, reaction.failed, job.judging)


def _judge(run: FaultRun, trace: Trace, failed: int, judging: Judging) -> FaultRun:
    """Explore the crash states from the failed call on; the causes and what they cost."""
    model = get_model(judging.model, trace.page_size, fsync_failure=judging.fsync_failure)
    started = time.monotonic()
    report = str(Path(run.trace).with_suffix(".json"))
    with make_checker(trace, judging) as checker, contextlib.ExitStack() as stack:
        cache = None if judging.cache is None else stack.enter_context(
            ResultsCache.open(judging.cache, checker.identity()))
        with explore(trace, checker, model, points=range(failed, trace.op_count),
                     budget=judging.budget, workers=1, cache=cache,
                     cause_budget=judging.cause_budget) as exploration:
            if exploration.interrupted:
                raise KeyboardInterrupt
            write_json(report, exploration)
            return replace(
                run, states=exploration.enumerated, checked=exploration.checked,
                verdicts=dict(exploration.verdicts),
                causes=tuple(cause_dict(c) for c in exploration.causes),
                explore_seconds=time.monotonic() - started, report=report)


def run_in_child(job: FaultJob, workdir: Path, stop: threading.Event | None = None
                 ) -> FaultRun:
    """`run_job` in a process of its own (`python -m powercut.faults`); its output goes
    to a log next to the trace. `stop` (a threading.Event) asks it to stop: SIGTERM, and
    up to STOP_GRACE seconds to unmount and end its workload."""
    stem = job.trace.with_suffix("")
    job_file, result_file = stem.with_suffix(".job"), stem.with_suffix(".result")
    log = stem.with_suffix(".log")
    job_file.write_bytes(pickle.dumps(job))
    result_file.unlink(missing_ok=True)
    child = Child([sys.executable, "-m", "powercut.faults", str(job_file), str(result_file)],
                  log, cwd=workdir)
    try:
        while child.wait(0.2) is None:
            if stop is not None and stop.is_set():
                break
    finally:
        child.kill(grace=STOP_GRACE)
        job_file.unlink(missing_ok=True)
    if result_file.exists():
        run: FaultRun = pickle.loads(result_file.read_bytes())
        result_file.unlink()
        if log.exists() and not log.stat().st_size:
            log.unlink()  # a run that said nothing keeps no log
        return run
    why = "stopped" if stop is not None and stop.is_set() else log_tail(log, 2000).strip()
    return FaultRun(job.index, job.fault.spec if job.fault else "", str(job.trace),
                    "error", why, error=why or "the run ended without a result")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    """`python -m powercut.faults JOB RESULT`: run a pickled job, pickle its result.

    SIGTERM (how a sweep stops a run), SIGHUP and SIGINT end it as Ctrl-C ends
    `record` and `explore`: the mount comes off, the workload and the checkers'
    programs are killed, then it exits without a result.
    """
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _interrupt)
    job: FaultJob = pickle.loads(Path(argv[0]).read_bytes())
    try:
        run = run_job(job)
    except KeyboardInterrupt:
        return 130
    except PowercutError as e:
        run = FaultRun(job.index, job.fault.spec if job.fault else "", str(job.trace),
                       "error", str(e), error=str(e))
    except Exception as e:  # a bug: the sweep reports it for this run and goes on
        traceback.print_exc()
        run = FaultRun(job.index, job.fault.spec if job.fault else "", str(job.trace),
                       "error", f"{type(e).__name__}: {e}", error=f"internal error: {e}")
    Path(argv[1]).write_bytes(pickle.dumps(run))
    return 0

