"""The `leveldb` target: Debian's LevelDB 1.23 through plyvel, acknowledged writes read back.

Workload `leveldb` (the kit's child program puts and deletes `--writes N`
keys with `sync=True`, or syncs only every `--sync-every K`-th, then
compacts and crashes); checker `leveldb` (open the state's database without
repair in a child, read every acknowledged key back). Both are the kit's
embedded-database template (`kit.embedded`) filled in with `library.py`.
The LevelDB is the one plyvel links in this interpreter: its
`setup.sh` builds plyvel against Debian's libleveldb, and the header
records its version (`binding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powercut.errors import WorkloadError
from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.targets.base import Option, Target
from powercut.targets.kit import writes_option
from powercut.targets.kit.embedded import LibraryChecker, LibraryWorkload
from powercut.targets.leveldb.binding import LEVELDB
from powercut.trace import Trace

DEFAULT_WRITES = 100
DEFAULT_VALUE_SIZE = 100
DB_DIR = "db"
LIBRARY = Path(__file__).with_name("library.py")


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

    def missing(self) -> list[str]:
        problem = LEVELDB.problem()
        return [problem] if problem else []

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        missing = LEVELDB.problem()
        if missing is not None:
            raise WorkloadError(missing)
        value_size = _given(options, "value_size", DEFAULT_VALUE_SIZE)
        sync_every = _given(options, "sync_every", 1)
        return LibraryWorkload(
            "leveldb", LIBRARY, DB_DIR, {}, _given(options, "writes", DEFAULT_WRITES),
            {**LEVELDB.header(), "value_size": value_size, "sync_every": sync_every},
            sync_every=sync_every, value_size=value_size)

    def record_options(self, workload: Mapping[str, Any]) -> dict[str, Any]:
        return {key: workload[key] for key in ("writes", "value_size", "sync_every")
                if isinstance(workload.get(key), int)}

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        return LibraryChecker("leveldb", LIBRARY, trace.workload, LEVELDB, timeout=timeout)


def _given(options: Mapping[str, Any], key: str, default: int) -> int:
    value = options.get(key)
    return default if value is None else int(value)


TARGET = LevelDBTarget()
