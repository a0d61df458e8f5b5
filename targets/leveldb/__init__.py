"""The `leveldb` target: Debian's LevelDB 1.23 through plyvel, acknowledged writes read back.

Workload `leveldb` (a child program puts and deletes `--writes N` keys with
`sync=True`, or syncs only every `--sync-every K`-th, then compacts and
crashes); checker `leveldb` (open the state's database without repair in a
child, read every acknowledged key back). The LevelDB is the one plyvel
links in this interpreter: `scripts/setup` builds it against Debian's
libleveldb, and the header records its version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut.errors import WorkloadError
from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.targets.base import Option, Target
from powercut.targets.leveldb import library
from powercut.targets.leveldb.checker import LevelDBChecker
from powercut.targets.leveldb.workload import DEFAULT_VALUE_SIZE, DEFAULT_WRITES, LevelDBWrites
from powercut.targets.writes import writes_option
from powercut.trace import Trace


class LevelDBTarget(Target):
    name = "leveldb"
    summary = "LevelDB 1.23 (Debian, through plyvel): synced puts and deletes, a compaction"
    workloads = ("leveldb",)
    checkers = ("leveldb",)
    options = (
        writes_option("leveldb"),
        Option("--value-size", f"Bytes of each value the leveldb workload puts (default "
               f"{DEFAULT_VALUE_SIZE}).", ("record",), ("leveldb",), type=int, metavar="B",
               kwargs={"min": 1}),
        Option("--sync-every", "Sync only every K-th write of the leveldb workload; it "
               "acknowledges the writes before it (default 1: every write synced).",
               ("record",), ("leveldb",), type=int, metavar="K", kwargs={"min": 1}),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        missing = library.problem()
        if missing is not None:
            raise WorkloadError(missing)
        return LevelDBWrites(writes=_given(options, "writes", DEFAULT_WRITES),
                             value_size=_given(options, "value_size", DEFAULT_VALUE_SIZE),
                             sync_every=_given(options, "sync_every", 1))

    def record_options(self, workload: Mapping[str, Any]) -> dict[str, Any]:
        return {key: workload[key] for key in ("writes", "value_size", "sync_every")
                if isinstance(workload.get(key), int)}

    def checker_for(self, trace: Trace) -> str:
        return "leveldb"

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        return LevelDBChecker(trace.workload, timeout=timeout)


def _given(options: Mapping[str, Any], key: str, default: int) -> int:
    value = options.get(key)
    return default if value is None else int(value)


TARGET = LevelDBTarget()
