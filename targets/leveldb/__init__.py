"""The `leveldb` target: Debian's LevelDB 1.23 through plyvel, acknowledged writes read back.

Workload `leveldb` (the kit's child program puts and deletes `--writes N`
keys with `sync=True`, or syncs only every `--sync-every K`-th, then
compacts and crashes); checker `leveldb` (open the state's database without
repair in a child, read every acknowledged key back). Both are the kit's
embedded-database template (`kit.embedded`) filled in with `library.py`.
The LevelDB is the one plyvel links in this interpreter: its `setup.sh`
builds plyvel against Debian's libleveldb, and the header records its
version (`binding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powercut.recorder.workload import Workload
from powercut.targets.base import Option
from powercut.targets.kit import writes_option
from powercut.targets.kit.embedded import EmbeddedTarget
from powercut.targets.leveldb.binding import LEVELDB

DEFAULT_VALUE_SIZE = 100


class LevelDBTarget(EmbeddedTarget):
    name = "leveldb"
    summary = "LevelDB 1.23 (Debian, through plyvel): synced puts and deletes, a compaction"
    binding = LEVELDB
    library = Path(__file__).with_name("library.py")
    default_writes = 100
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
        value_size = int(options.get("value_size") or DEFAULT_VALUE_SIZE)
        sync_every = int(options.get("sync_every") or 1)
        return self.library_workload(
            options, {}, {"value_size": value_size, "sync_every": sync_every},
            sync_every=sync_every, value_size=value_size)


TARGET = LevelDBTarget()
