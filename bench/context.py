"""What the sub-benches share in one run: settings, the trace, its distinct states, the floor.

The bare-checker floor (every distinct crash state of the bootstrap trace,
materialised beforehand into its own directory, judged by `EtcdChecker`
alone, one after the other) is measured once and reused: it is the
denominator of figure 1, it classifies the states figure 2 samples, and it
gives the median check that figure 5 compares materialisation with.
Everything the benches write lives under one temp dir removed at the end;
nothing here may leave a process or a directory behind.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from powercut.explorer.run.order import TraceFacts
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.materialise import materialise
from powercut.replayer.models import get_model
from powercut.replayer.state import CrashState
from powercut.targets.etcd import binary
from powercut.targets.etcd.checker import EtcdChecker
from powercut.trace import Trace, open_trace

REPO = Path(__file__).resolve().parent.parent
BOOTSTRAP_TRACE = REPO / "traces" / "etcd-3.4-bootstrap.trace"


@dataclass(frozen=True)
class Bare:
    """One state judged by the checker alone: its verdict kind and the check's wall time."""

    state: CrashState
    kind: str
    seconds: float


@dataclass
class Context:
    """Settings and shared measurements of one `bench/run`."""

    quick: bool
    timeout: float  # per-state checker timeout (a hang costs this much)
    workers: tuple[int, ...]
    trace_path: Path = BOOTSTRAP_TRACE
    etcd_bin: Path | None = None  # None: the etcd the trace was recorded with
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="powercut-bench-")))
    _trace: Trace | None = field(default=None, init=False, repr=False)
    _states: list[CrashState] | None = field(default=None, init=False, repr=False)
    _floor: list[Bare] | None = field(default=None, init=False, repr=False)
    _copies: int = field(default=0, init=False, repr=False)

    @property
    def trace(self) -> Trace:
        if self._trace is None:
            self._trace = open_trace(self.trace_path)
        return self._trace

    @property
    def binary(self) -> Path:
        return binary.for_trace(self.trace.workload, self.etcd_bin)

    def checker(self) -> EtcdChecker:
        return EtcdChecker(self.binary, self.trace.workload, timeout=self.timeout)

    def states(self) -> list[CrashState]:
        """The trace's distinct crash states under the lazyfs model, in enumeration order."""
        if self._states is None:
            model = get_model("lazyfs", self.trace.page_size)
            self._states = [s for s in Enumeration(self.trace, model) if not s.duplicate]
        return self._states

    @contextmanager
    def copy_of(self, state: CrashState) -> Iterator[tuple[Path, Path]]:
        """A fresh materialised copy of `state` and a scratch dir, made before any timer starts."""
        self._copies += 1
        work = self.work / f"copy-{self._copies}"
        work.mkdir()
        try:
            materialise(state, work / "root")
            yield work / "root", work / "check"
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def floor(self) -> list[Bare]:
        """Every distinct state judged by the bare `EtcdChecker`, timed (measured once)."""
        if self._floor is None:
            facts = TraceFacts.scan(self.trace.ops(), self.trace.page_size)
            bare = []
            with self.checker() as checker:
                for state in self.states():
                    with self.copy_of(state) as (root, scratch):
                        markers = facts.markers_before(state.point)
                        started = time.perf_counter()
                        verdict = checker.check(root, markers, scratch=scratch)
                        bare.append(Bare(state, verdict.kind, time.perf_counter() - started))
            self._floor = bare
        return self._floor

    def median_check(self, kind: str = "ok") -> float:
        """Median bare check time of the states judged `kind`."""
        times = [b.seconds for b in self.floor() if b.kind == kind]
        return statistics.median(times) if times else float("nan")

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
