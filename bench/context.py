"""What the sub-benches share in one run: settings, traces, timed explorations, their floors.

An exploration of a trace (defaults: early hangs, no cache, the largest
worker count) is run and timed once per run and reused. Its floor is
measured independently right after it: every distinct state it judged,
rebuilt and materialised beforehand into its own directory, judged by the
bare checker alone, one after the other, each given the deadline the
exploration gave it (a suspected hang costs its deadline, not the full
timeout). `Floor.seconds` adds one full timeout per hang cause the
exploration confirmed and divides by the workers, or is the longest single
check if that is longer: the denominator of figure 1. The seed's floor
also classifies the states figure 2 samples and gives the median check
that figure 5 compares materialisation with. Everything the benches write
lives under one temp dir removed at the end; nothing here may leave a
process or a directory behind.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from powercut.explorer.checkers import Checker
from powercut.explorer.checkers.base import deadline
from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import Progress, explore
from powercut.explorer.run.hangs import inferred
from powercut.explorer.run.order import TraceFacts
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.materialise import materialise
from powercut.replayer.models import get_model
from powercut.replayer.replay import state_of
from powercut.replayer.replays import Replays
from powercut.replayer.state import CrashState
from powercut.session.choice import choose_checker
from powercut.targets.etcd.binary import ETCD
from powercut.trace import Trace, open_trace

REPO = Path(__file__).resolve().parent.parent
TRACES = REPO / "traces"
SEED = "etcd-3.4-bootstrap"


@dataclass(frozen=True)
class Bare:
    """One state judged by the checker alone: its verdict kind and the check's wall time."""

    state: CrashState
    verdict: str
    seconds: float
    limit: float | None  # the deadline the exploration gave it (None: the full timeout)


@dataclass(frozen=True)
class Run:
    """One timed exploration."""

    trace: str
    workers: int
    early: bool
    model: str
    wall: float
    first_failing: float | None
    exploration: Exploration


@dataclass(frozen=True)
class Floor:
    """The bare checks of an exploration's distinct states, and what they add up to."""

    bare: list[Bare]
    confirmed_hangs: int  # hang causes confirmed at the full timeout
    timeout: float
    workers: int

    @property
    def summed(self) -> float:
        return sum(b.seconds for b in self.bare) + self.confirmed_hangs * self.timeout

    @property
    def longest(self) -> float:
        single = max((b.seconds for b in self.bare), default=0.0)
        return max(single, self.timeout if self.confirmed_hangs else 0.0)

    @property
    def seconds(self) -> float:
        return max(self.summed / self.workers, self.longest)


@dataclass
class Context:
    """Settings and shared measurements of one `bench/run`."""

    quick: bool
    timeout: float  # per-state checker timeout (a hang costs this much)
    workers: tuple[int, ...]
    etcd_bin: Path | None = None  # None: the etcd the trace was recorded with
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="powercut-bench-")))
    _traces: dict[str, Trace] = field(default_factory=dict, init=False, repr=False)
    _runs: dict[tuple[str, int, bool, str], Run] = field(default_factory=dict, init=False,
                                                          repr=False)
    _floors: dict[tuple[str, str], Floor] = field(default_factory=dict, init=False, repr=False)
    _states: list[CrashState] | None = field(default=None, init=False, repr=False)
    _copies: int = field(default=0, init=False, repr=False)
    _kept: list[Exploration] = field(default_factory=list, init=False, repr=False)

    # --- the seed, as the older figures use it ------------------------------------------------

    @property
    def trace_path(self) -> Path:
        return TRACES / f"{SEED}.trace"

    @property
    def trace(self) -> Trace:
        return self.open(SEED)

    @property
    def binary(self) -> Path:
        return ETCD.matching(self.trace.workload, self.etcd_bin)

    def checker(self, name: str = SEED, timeout: float | None = None) -> Checker:
        """The checker `powercut explore` would pick for trace `name` (at the run's timeout
        unless given one)."""
        return choose_checker(self.open(name), timeout=timeout or self.timeout)

    def states(self) -> list[CrashState]:
        """The seed's distinct crash states under the lazyfs model, in enumeration order."""
        if self._states is None:
            model = get_model("lazyfs", self.trace.page_size)
            self._states = [s for s in Enumeration(self.trace, model) if not s.duplicate]
        return self._states

    def median_check(self, kind: str = "ok") -> float:
        """Median bare check time of the seed's states judged `kind`."""
        times = [b.seconds for b in self.floor().bare if b.verdict == kind]
        return statistics.median(times) if times else float("nan")

    # --- any committed trace --------------------------------------------------------------------

    def open(self, name: str) -> Trace:
        if name not in self._traces:
            self._traces[name] = open_trace(TRACES / f"{name}.trace")
        return self._traces[name]

    def explored(self, name: str = SEED, workers: int | None = None, *,
                 early: bool = True, model: str = "lazyfs") -> Run:
        """Trace `name` explored with defaults and no cache under `model`, timed (once per
        run)."""
        workers = workers or max(self.workers)
        index = (name, workers, early, model)
        if index not in self._runs:
            self._runs[index] = self._explore(name, workers, early, model)
        return self._runs[index]

    def _explore(self, name: str, workers: int, early: bool, model: str) -> Run:
        first: list[float] = []
        with self.checker(name) as checker:  # made before the clock starts
            started = time.monotonic()

            def on_progress(p: Progress) -> None:
                if not first and p.failing > 0:
                    first.append(time.monotonic() - started)

            e = explore(self.open(name), checker, model, workers=workers,
                        on_progress=on_progress, workdir=self.work, early_hangs=early)
            wall = time.monotonic() - started
        return Run(name, workers, early, model, wall, first[0] if first else None, e)

    def floor(self, name: str = SEED, model: str = "lazyfs") -> Floor:
        """The bare checks of the distinct states of `explored(name, model=model)` (measured
        once)."""
        if (name, model) not in self._floors:
            self._floors[name, model] = self._floor(self.explored(name, model=model))
        return self._floors[name, model]

    def _floor(self, run: Run) -> Floor:
        bare = self.bare(run.trace, run.model, run.exploration)
        e = run.exploration
        confirmed = sum(1 for c in e.causes if c.verdict == "hang" and
                        c.hang.startswith("confirmed"))
        return Floor(bare, confirmed, self.timeout, run.workers)

    def bare(self, name: str, model: str, e: Exploration,
             only: Callable[[str], bool] = lambda key: True,
             timeout: float | None = None) -> list[Bare]:
        """The distinct states `e` judged (those whose key `only` takes), each checked bare, one
        after the other, at the deadline `e` gave it (else `timeout`, else the run's)."""
        trace = self.open(name)
        facts = TraceFacts.scan(trace.ops(), trace.page_size)
        replays = Replays(trace, get_model(model, trace.page_size))
        bare = []
        seen: set[str] = set()
        with self.checker(name, timeout) as checker:
            for j in e.iter_judged():
                if j.state.duplicate or j.state.key in seen or not only(j.state.key):
                    continue
                seen.add(j.state.key)
                verdict = e.verdict(j.state.key)
                limit = verdict.evidence.deadline if inferred(verdict) else None
                pending = replays.pending(j.state.point)
                state = state_of(pending, pending.lost_of(j.state.name))
                with self.copy_of(state) as (root, scratch):
                    markers = facts.markers_before(state.point)
                    started = time.perf_counter()
                    with deadline(limit):
                        got = checker.check(root, markers, scratch=scratch)
                    bare.append(Bare(state, got.verdict, time.perf_counter() - started, limit))
        return bare

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

    def keep(self, e: Exploration) -> None:
        """Close `e` with the run (a bench's own exploration, kept open for its floor)."""
        self._kept.append(e)

    def close(self) -> None:
        for run in self._runs.values():
            run.exploration.close()
        for e in self._kept:
            e.close()
        shutil.rmtree(self.work, ignore_errors=True)
