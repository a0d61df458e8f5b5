"""fsync failures end to end: two-line programs whose fsync fails, recorded, swept and judged.

`ignores.py` writes, fsyncs, ignores the fsync's EIO and acknowledges: one
`fsync-failure` root cause that loses the acknowledged write. `exits.py`
is the same program letting the error end it: clean. The runs are real
(`record --fail` on the FUSE mount, the command checker on each state).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import find, settings
from hypothesis.errors import NoSuchExample

from powercut.faultplan import Fault
from powercut.faults import FaultJob, Judging, react, run_job, sweep
from powercut.faults.summary import fold
from powercut.recorder.kernel import OnKernel
from powercut.recorder.record import record
from powercut.recorder.workload import Command
from powercut.testing import CrashCase, check, fsync_failures
from powercut.trace import open_trace
from tests.dask_cluster import local_cluster

pytestmark = pytest.mark.fuse

WRITE = ('import os, sys; fd = os.open(sys.argv[1] + "/data", os.O_WRONLY | os.O_CREAT | '
         'os.O_APPEND, 0o644); os.write(fd, b"value-1\\n")\n')
ACK = ('open(sys.argv[1] + "/.powercut/marker", "a").write('
       '\'{"key": "k", "value": "value-1"}\\n\')\n')
PROGRAMS = {
    "ignores.py": WRITE + "try: os.fsync(fd)\nexcept OSError as e: print('ignored:', e)\n" + ACK,
    "exits.py": WRITE + "os.fsync(fd)\n" + ACK,
}
CHECK = """import json, sys
acked = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
try: data = open(sys.argv[1] + "/data").read()
except FileNotFoundError: data = ""
missing = [m["key"] for m in acked if "key" in m and not m.get("intent") and m["value"] not in data]
if missing: print(json.dumps({"verdict": "data-loss", "missing": missing})); sys.exit(1)
"""


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    for name, text in {**PROGRAMS, "check.py": CHECK}.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def _judging(programs: Path) -> Judging:
    return Judging(options={"check_cmd": f"{sys.executable} {programs}/check.py {{dir}} "
                                         "{markers}"}, cache=None)


def test_record_fail_records_the_failed_fsync_and_the_program_sees_eio(programs: Path) -> None:
    out = programs / "ignores.trace"
    done = subprocess.run(
        [sys.executable, "-m", "powercut", "record", "-o", str(out), "--fail", "fsync:data@1",
         "--", sys.executable, str(programs / "ignores.py"), "{mnt}"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "failed op #2 (fsync:data@1 with EIO)" in done.stderr
    trace = open_trace(out)
    ops = list(trace.ops())
    assert [(op.op, op.errno) for op in ops] == [("create", None), ("write", None),
                                                 ("fsync", 5), ("marker", None)]
    assert trace.fault == {"call": "fsync", "path": "data", "nth": 1, "errno": 5,
                           "errno_name": "EIO"}
    reaction = react(ops, exited=False, printed="")
    assert (reaction.kind, reaction.failed, reaction.acknowledged) == ("acknowledged", 2, ("k",))
    shown = subprocess.run([sys.executable, "-m", "powercut", "show", str(out)],
                           capture_output=True, text=True, timeout=60)
    assert "FAILED EIO" in shown.stdout and "fails with EIO" in shown.stdout
    # `explore` reads it like any trace; the reports put the failed call on the timeline.
    explored = subprocess.run(
        [sys.executable, "-m", "powercut", "explore", str(out), "--no-cache",
         "--check-cmd", f"{sys.executable} {programs}/check.py {{dir}} {{markers}}",
         "--html", str(programs / "r.html")], capture_output=True, text=True, timeout=300)
    assert explored.returncode == 1, explored.stderr
    assert "fsync-failure (data-loss)" in explored.stdout
    assert "2 fsync data: FAILED with EIO" in explored.stdout
    assert '<div class="failed">    2 fsync data: FAILED with EIO</div>' in (
        programs / "r.html").read_text()


def test_a_fault_that_never_fires_says_so(programs: Path) -> None:
    result = record(programs / "never.trace",
                    Command((sys.executable, str(programs / "exits.py"), "{mnt}")),
                    fault=Fault.parse("fsync@2"))
    assert (result.status, result.failed, result.matched) == ("complete", None, 1)
    assert react(open_trace(result.path).ops(), exited=False, printed="").kind == "none"


def test_ignoring_the_eio_and_acknowledging_is_one_fsync_failure_cause(programs: Path) -> None:
    done = sweep(Command((sys.executable, str(programs / "ignores.py"), "{mnt}")),
                 Fault.parse("fsync"), programs / "ignores", judging=_judging(programs))
    assert done.candidates == 1 and [r.fault for r in done.runs] == ["fsync@1"]
    [run] = done.runs
    assert run.reaction is not None and run.reaction.kind == "acknowledged"
    assert "ignored: [Errno 5] Input/output error" in run.reaction.printed
    [cause] = fold(done.runs)
    assert (cause.kind, cause.verdict, cause.missing) == ("fsync-failure", "data-loss", ["k"])
    assert "op #2 (fsync data) fails with EIO" in cause.barrier
    report = json.loads(Path(run.report).read_text())
    assert report["causes"][0]["kind"] == "fsync-failure"
    assert any(op.get("errno") == 5 for op in report["causes"][0]["ops"])


def test_exiting_on_the_eio_comes_out_clean(programs: Path) -> None:
    done = sweep(Command((sys.executable, str(programs / "exits.py"), "{mnt}")),
                 Fault.parse("fsync"), programs / "exits", judging=_judging(programs))
    [run] = done.runs
    assert run.reaction is not None and run.reaction.kind == "exited"
    assert "OSError: [Errno 5] Input/output error" in run.reaction.printed
    assert run.checked >= 1 and not run.causes and not run.error


def test_the_sweep_runs_on_a_dask_cluster_with_the_same_results(programs: Path) -> None:
    with local_cluster(programs) as cluster:
        done = sweep(Command((sys.executable, str(programs / "ignores.py"), "{mnt}")),
                     Fault.parse("fsync"), programs / "dask", judging=_judging(programs),
                     executor="dask", scheduler=cluster.scheduler_address)
    [cause] = fold(done.runs)
    assert (done.executor, cause.kind, cause.missing) == ("dask", "fsync-failure", ["k"])


def test_the_command_line_sweep_exits_1_on_a_cause_and_writes_its_summary(
        programs: Path) -> None:
    out = programs / "cli"
    done = subprocess.run(
        [sys.executable, "-m", "powercut", "faults", "--out", str(out), "--no-cache",
         "--check-cmd", f"{sys.executable} {programs}/check.py {{dir}} {{markers}}", "--",
         sys.executable, str(programs / "ignores.py"), "{mnt}"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "fsync-failure (data-loss)" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "powercut-faults" and summary["candidates"] == 1
    assert summary["reactions"] == {"acknowledged": 1}
    assert summary["causes"][0]["kind"] == "fsync-failure"
    assert summary["causes"][0]["faults"] == [1]


def test_fsync_failures_draws_states_after_the_failed_call_and_finds_the_loss(
        programs: Path) -> None:
    check_cmd = f"{sys.executable} {programs}/check.py {{dir}} {{markers}}"
    cache = programs / "traces"

    def failing(program: str) -> CrashCase | None:
        strategy = fsync_failures("command", command=[sys.executable,
                                                       str(programs / program), "{mnt}"],
                                  cache_dir=cache)
        try:
            return find(strategy, lambda case: check(case, check_cmd=check_cmd).verdict != "ok",
                        settings=settings(max_examples=15, database=None, deadline=None))
        except NoSuchExample:
            return None

    case = failing("ignores.py")
    assert case is not None and case.point >= 2 and case.trace.fault is not None
    assert "--point 3" in repr(case) and "--lose data:0" in repr(case)
    assert [m.key for m in check(case, check_cmd=check_cmd).evidence.missing] == ["k"]
    assert failing("exits.py") is None  # it exits on the error: nothing drawn fails


def test_sigterm_stops_the_sweep_unmounts_and_keeps_what_was_judged(programs: Path) -> None:
    # On EIO the program sleeps: its run is still recording when the sweep is told to stop.
    (programs / "slow.py").write_text(
        WRITE + "try: os.fsync(fd)\nexcept OSError:\n    import time; time.sleep(120)\n" + ACK)
    out = programs / "stopped"
    sweep_cli = subprocess.Popen(
        [sys.executable, "-m", "powercut", "faults", "--out", str(out), "--no-cache",
         "--check-cmd", f"{sys.executable} {programs}/check.py {{dir}} {{markers}}", "--",
         sys.executable, str(programs / "slow.py"), "{mnt}"],
        stderr=subprocess.PIPE, text=True)
    assert sweep_cli.stderr is not None
    assert "clean run" in sweep_cli.stderr.readline()
    deadline = time.monotonic() + 60
    while not (out / "fault-001.trace").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the run is on the mount, its program asleep
    sweep_cli.send_signal(signal.SIGTERM)
    assert sweep_cli.wait(60) == 130, sweep_cli.stderr.read()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["candidates"] == 1
    assert open_trace(out / "fault-001.trace", allow_prefix=True).status == "interrupted"
    assert not [p for p in out.iterdir() if p.suffix in (".job", ".result")]


def test_on_a_kernel_file_system_the_failed_flush_is_the_kernels_to_handle(
        programs: Path) -> None:
    # `--fs ext4`: the calls failed are the image's; fail the flush that commits the
    # program's fsync (the last before its acknowledgement), and the kernel returns EIO.
    marker = 'open(os.environ["POWERCUT_MARKER"], "a")'
    for name in ("ignores", "exits"):
        (programs / f"{name}_fs.py").write_text(PROGRAMS[f"{name}.py"].replace(
            'open(sys.argv[1] + "/.powercut/marker", "a")', marker))
    ext4 = OnKernel("ext4")
    clean = record(programs / "fs-clean.trace", Command(
        (sys.executable, str(programs / "ignores_fs.py"), "{mnt}")), on_kernel=ext4)
    ops = list(open_trace(clean.path).ops())
    acked = next(op.seq for op in ops if op.op == "marker")
    nth = sum(1 for op in ops if op.op == "fsync" and op.seq < acked)
    runs = {}
    for name in ("ignores", "exits"):
        job = FaultJob(1, Command((sys.executable, str(programs / f"{name}_fs.py"), "{mnt}")),
                       Fault.parse(f"fsync@{nth}"), programs / f"fs-{name}.trace", 60.0,
                       _judging(programs), on_kernel=ext4)
        runs[name] = run_job(job)
    ignored, exited = runs["ignores"], runs["exits"]
    assert ignored.reaction is not None and ignored.reaction.kind == "acknowledged"
    assert [c["kind"] for c in ignored.causes] == ["fsync-failure"]
    assert ignored.causes[0]["missing"] == ["k"]
    assert exited.reaction is not None and exited.reaction.kind == "exited"
    assert "Input/output error" in exited.reaction.said and not exited.causes
