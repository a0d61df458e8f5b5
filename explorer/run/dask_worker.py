"""What runs on a Dask worker: the trace fetched once, each state rebuilt by a forward replay.

The driver never sends the trace whole. It asks every worker whether it
can read the trace at the driver's path with the driver's sha256 (the same
machine, a shared file system): those read it in place. To the others it
streams the file in chunks of `CHUNK` bytes, one at a time, each appended
to a file in the worker's scratch space, whose digest is checked at the
end; neither the driver nor a worker ever holds the whole trace in memory.
A worker that joins later and cannot read the trace refuses its tasks in
one line.

A task is a batch of states (the driver sizes batches so that one takes
a fraction of a second: the scheduler's round trip is paid per task, not
per state). Each state is rebuilt by `Replays`, which advances the model run paused
nearest before its crash point: states arrive in the driver's priority
order (a class at a time, crash points rising), so a worker replays the
trace a few times in all, not once per state. The worker checks that the
rebuilt state has the content key the driver enumerated (a worker running
another powercut would judge another state) and runs `pool.check_state`
in a temp directory of its own, exactly as a local thread would, writing
states through the worker's own `Stages` (each thread keeps its last state
and writes only what differs; removed when the worker process exits).
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut import process
from powercut.errors import PowercutError, TraceError
from powercut.explorer.checkers import Checker
from powercut.explorer.run import leftovers
from powercut.explorer.run.pool import check_state
from powercut.explorer.run.stages import Stages
from powercut.explorer.verdict import Verdict
from powercut.replayer.models import get_model
from powercut.replayer.replay import named_state
from powercut.replayer.replays import Replays
from powercut.replayer.state import CrashState, StateName
from powercut.trace import Op, Trace, open_trace

CHUNK = 8 << 20
REPLAYS_KEPT = 4  # (trace, model) pairs whose paused runs a worker keeps
THREAD_PREFIX = "powercut-dask-"


@dataclass(frozen=True)
class Shipment:
    """Which trace a task is about, and where the driver reads it."""

    path: str
    digest: str  # sha256 of the file
    truncated: bool  # explored as its valid prefix


def file_digest(path: Path | str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            sha.update(block)
    return sha.hexdigest()


def ship(client: Any, trace: Trace) -> tuple[Shipment, list[str]]:
    """Make sure every worker of `client` has the trace: returns the shipment and the
    workers it was streamed to (the others read it in place)."""
    shipment = Shipment(str(trace.path), file_digest(trace.path), trace.status == "truncated")
    readable = client.run(can_read, shipment)
    missing = sorted(worker for worker, ok in readable.items() if not ok)
    if missing:
        stream(client, trace.path, shipment.digest, missing)
    return shipment, missing


def stream(client: Any, path: Path, digest: str, workers: list[str]) -> None:
    """Send the file at `path` to `workers`, one chunk at a time."""
    with open(path, "rb") as f:
        for index, block in enumerate(iter(lambda: f.read(CHUNK), b"")):
            client.run(receive, digest, index, block, workers=workers)
    client.run(received, digest, workers=workers)


# --- worker-side memory, per worker process --------------------------------------------------

_lock = threading.Lock()
_traces: dict[str, Trace] = {}
_replays: collections.OrderedDict[tuple[str, str, int], Replays] = collections.OrderedDict()
_stopped: set[str] = set()
_reaped = False
_stages: Stages | None = None


Spec = tuple[int, tuple[str, ...], str, list[Op]]  # point, lost units, content, markers


def run_checks(shipment: Shipment, model_spec: tuple[str, int, str], checker: Checker,
               token: str, specs: list[Spec], limit: float | None = None) -> list[Verdict | None]:
    """Rebuild crash states from the trace and check them one after another (a task on a
    Dask worker); None for a state not checked because the exploration stopped."""
    global _reaped
    replays = _replays_here(shipment, model_spec)
    if not _reaped:  # a worker killed outright left checkers and dirs on this machine
        _reaped = True
        leftovers.reap(Path(tempfile.gettempdir()))
    verdicts: list[Verdict | None] = []
    for point, lost, content, markers in specs:
        if token in _stopped:
            verdicts.append(None)
            continue
        state = named_state(replays.pending(point), StateName(point, tuple(lost)))
        if state.content != content:
            raise PowercutError(f"a Dask worker rebuilt crash point {point} into another "
                                "state than the driver enumerated; run the same powercut "
                                "everywhere")
        verdicts.append(_check_here(checker, token, state, markers, limit))
    return verdicts


def _check_here(checker: Checker, token: str, state: CrashState, markers: list[Op],
                limit: float | None) -> Verdict | None:
    root = Path(tempfile.mkdtemp(prefix=leftovers.PREFIX))
    leftovers.claim(root)
    thread = threading.current_thread()
    name = thread.name
    thread.name = f"{THREAD_PREFIX}{token}_{name}"  # so stop_checks finds its programs
    try:
        return check_state(checker, state, markers, root / "state",
                           lambda: token in _stopped, limit, _stages_here())
    finally:
        thread.name = name
        shutil.rmtree(root, ignore_errors=True)
        leftovers.release(root)


def _stages_here() -> Stages:
    """This worker process's stagings, in a work dir it holds until it exits."""
    global _stages
    with _lock:
        if _stages is None:
            root = Path(tempfile.mkdtemp(prefix=leftovers.PREFIX))
            leftovers.claim(root)
            _stages = Stages(root / "stages")
            atexit.register(_close_stages, _stages, root)
        return _stages


def _close_stages(stages: Stages, root: Path) -> None:
    try:
        stages.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        leftovers.release(root)


def stop_checks(token: str) -> None:
    """Stop the exploration `token` on this worker: no new check, running programs killed."""
    _stopped.add(token)
    process.kill_all(f"{THREAD_PREFIX}{token}_")


def _replays_here(shipment: Shipment, model_spec: tuple[str, int, str]) -> Replays:
    index = (shipment.digest, *model_spec)
    with _lock:
        replays = _replays.get(index)
        if replays is not None:
            _replays.move_to_end(index)
            return replays
        trace = trace_here(shipment)
        name, page_size, fsync_failure = model_spec
        replays = _replays[index] = Replays(trace, get_model(name, page_size,
                                                             fsync_failure=fsync_failure))
        while len(_replays) > REPLAYS_KEPT:
            _replays.popitem(last=False)
        return replays


def can_read(shipment: Shipment) -> bool:
    """Whether this worker reads the driver's trace in place (run on every worker)."""
    try:
        return file_digest(shipment.path) == shipment.digest
    except OSError:
        return False


def _received_path(digest: str, worker: Any = None) -> Path:
    return _worker_dir(worker) / f"powercut-{digest[:16]}.trace"


def receive(digest: str, index: int, block: bytes, dask_worker: Any = None) -> None:
    """Append chunk `index` of the trace `digest` to this worker's copy (`client.run`
    passes `dask_worker`)."""
    partial = _received_path(digest, dask_worker).with_suffix(".part")
    with open(partial, "wb" if index == 0 else "ab") as f:
        if f.tell() == 0 and index:
            raise TraceError(f"chunk {index} of the trace arrived before its first")
        f.write(block)


def received(digest: str, dask_worker: Any = None) -> None:
    """The last chunk is in: check the copy's digest and give it its name."""
    path = _received_path(digest, dask_worker)
    partial = path.with_suffix(".part")
    if file_digest(partial) != digest:
        partial.unlink()
        raise TraceError("the trace a Dask worker received differs from the driver's")
    partial.replace(path)


def trace_here(shipment: Shipment) -> Trace:
    """The shipment's trace on this worker: its received copy, or the driver's file in place."""
    trace = _traces.get(shipment.digest)
    if trace is not None:
        return trace
    path = _received_path(shipment.digest)
    if not path.exists():
        if not can_read(shipment):
            raise TraceError(f"this Dask worker cannot read the trace {shipment.path} and was "
                             "not sent it (it joined after the exploration started)")
        path = Path(shipment.path)
    trace = _traces[shipment.digest] = open_trace(path, allow_prefix=shipment.truncated)
    return trace


def _worker_dir(worker: Any = None) -> Path:
    """The worker's own scratch directory (Dask removes it), or the temp dir outside Dask."""
    if worker is not None:
        return Path(worker.local_directory)
    try:
        from distributed import get_worker

        return Path(get_worker().local_directory)
    except (ImportError, ValueError):
        return Path(tempfile.gettempdir())
