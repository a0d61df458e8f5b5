"""An embedded database as a target: its workload and its checker run it in a child program.

A database that is a library (LevelDB, SQLite, RocksDB) has no server to
start: the kit runs `child.py` with this interpreter, in its own process
group, loading the target's `library.py` (see `child.py` for what it
defines). `LibraryWorkload` sends the shared plan of writes through the
acknowledged-write loop in that child on the mount and crashes it;
`LibraryChecker` opens each crash state's database there as an
application would and reads every acknowledged key back: an error opening
or reading is `unrecoverable` (the database's message is the signature),
no answer within `limit()` a `hang`, a key missing or with another value
`data-loss`. A target supplies its library file, its settings (recorded
in the header, so the checker opens the database as the workload did) and
its `Binding` (the extension module and library that are the database's
code, and its version).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from powercut.errors import WorkloadError
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
)
from powercut.explorer.verdict import Evidence, Verdict
from powercut.process import Child, last_lines
from powercut.recorder.workload import Workload, WorkloadResult, marker_file, start
from powercut.targets.base import Target
from powercut.targets.kit.acknowledged import plan_writes
from powercut.targets.kit.binding import Binding
from powercut.trace import Op, Trace

CHILD = Path(__file__).with_name("child.py")


def argv(command: str, library: Path, db: Path, settings: Mapping[str, Any],
         *files: Path) -> list[str]:
    """The child program's command line (`-I`: no environment or user site changes it)."""
    return [sys.executable, "-I", str(CHILD), command, str(library), str(db),
            json.dumps(dict(settings), sort_keys=True), *map(str, files)]


@dataclass(frozen=True)
class LibraryWorkload:
    """`writes` acknowledged writes into `db_dir` under the mount, then a crash."""

    name: str
    library: Path
    db_dir: str
    settings: Mapping[str, Any]
    writes: int
    header_fields: Mapping[str, Any] = field(default_factory=dict)  # versions, digests
    sync_every: int = 1
    value_size: int = 0

    def header(self) -> dict[str, Any]:
        return {"name": self.name, **self.header_fields, "db_dir": self.db_dir,
                "settings": dict(self.settings), "writes": self.writes}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        plan = workdir / "plan.json"
        writes = plan_writes(self.writes, sync_every=self.sync_every,
                             value_size=self.value_size)
        plan.write_text(json.dumps([{"key": w.key, "value": w.value, "sync": w.sync}
                                    for w in writes]))
        log = workdir / f"{self.name}.log"
        child = start(argv("workload", self.library, mnt / self.db_dir, self.settings, plan,
                           marker_file(mnt)), log)
        try:
            exit = child.wait(timeout)
            if exit is None:
                return WorkloadResult(False, f"the {self.name} program still ran after "
                                             f"{timeout:g}s")
            if exit.status != 0:
                return WorkloadResult(False, f"the {self.name} program failed "
                                             f"({exit.describe}): {last_lines(log)}",
                                      exited=True)
            return WorkloadResult(True, last_lines(log, 1))
        finally:
            child.kill(grace=0)


class LibraryChecker(Checker):
    """Opens each state's database in a child program; every acknowledged key read back is ok."""

    uses_markers = True

    def __init__(self, name: str, library: Path, workload: Mapping[str, Any], binding: Binding,
                 *, timeout: float = DEFAULT_TIMEOUT) -> None:
        binding.refuse_other(workload)
        self.name = name
        self.library = library
        self.db_dir = str(workload.get("db_dir") or "db")
        settings = workload.get("settings")
        self.settings: dict[str, Any] = dict(settings) if isinstance(settings, Mapping) else {}
        self.binding = binding
        self.version = binding.version()
        self.timeout = timeout

    def describe(self) -> str:
        settings = "".join(f", {k} {v}" for k, v in sorted(self.settings.items()))
        return (f"{self.name} ({self.binding.key} {self.version} through "
                f"{self.binding.module.split('.')[0]}, {self.db_dir}/{settings})")

    def identity(self) -> str:
        code = " ".join(f"{p.name}={file_fingerprint(p)}"
                        for p in (CHILD, self.library, *self.binding.files()))
        return (f"{self.describe()} settings={json.dumps(self.settings, sort_keys=True)} "
                f"{code} timeout={self.timeout:g}")

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        want = durability.expected(markers)
        with scratch_dir(scratch) as work:
            keys, out = work / "keys.json", work / "values.json"
            keys.write_text(json.dumps([key for key, _ in want.items()]))
            command = argv("check", self.library, directory / self.db_dir, self.settings,
                           keys, out)
            with Child(command, work / f"{self.name}-check.log") as child:
                exit = child.wait(self.limit())
                if exit is None:
                    child.kill(grace=0)
                    return failure_verdict("hang", child, None)
                if exit.status != 0:
                    return failure_verdict("unrecoverable", child, exit)
                values = json.loads(out.read_text())
                evidence = Evidence(argv=tuple(child.argv))
                missing = durability.lost(want, values.get)
                if missing:
                    return durability.data_loss(missing, child.elapsed, evidence)
                return Verdict("ok", duration=child.elapsed, evidence=evidence)


class EmbeddedTarget(Target):
    """A target whose program is a library: its binding, its `library.py`, its database's
    place under the mount, and how many writes its workload makes unless told."""

    binding: ClassVar[Binding]
    library: ClassVar[Path]
    db_dir: ClassVar[str] = "db"
    default_writes: ClassVar[int] = 20

    def missing(self) -> list[str]:
        problem = self.binding.problem()
        return [problem] if problem else []

    def library_workload(self, options: Mapping[str, Any], settings: Mapping[str, Any],
                         header: Mapping[str, Any] | None = None, **plan: Any) -> Workload:
        """The workload: `--writes` (or the default) with these settings recorded; `plan`
        goes to `plan_writes` (`sync_every`, `value_size`)."""
        problem = self.binding.problem()
        if problem is not None:
            raise WorkloadError(problem)
        writes = options.get("writes")
        return LibraryWorkload(self.name, self.library, self.db_dir, settings,
                               self.default_writes if writes is None else int(writes),
                               {**self.binding.header(), **(header or {})}, **plan)

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        return LibraryChecker(self.name, self.library, trace.workload, self.binding,
                              timeout=timeout)
