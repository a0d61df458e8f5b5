"""The `rocksdb` target: RocksDB through rocksdict (PyPI; it carries its own RocksDB), read back.

Workload `rocksdb` (the kit's child program creates a database under the
mount, puts and deletes `--writes N` keys with `WriteOptions.sync` as
`--sync` says (default true), flushes, compacts and crashes); checker
`rocksdb` (open the state's database as an application using rocksdict
does, read every acknowledged key back). Both are the kit's
embedded-database template filled in with `library.py`. RocksDB documents
that with `sync=false` a machine crash may lose the most recent writes;
anything else powercut reports is a finding (docs/targets/rocksdb.md).
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powercut.errors import PowercutError
from powercut.recorder.workload import Workload
from powercut.targets.base import Option
from powercut.targets.kit import writes_option
from powercut.targets.kit.binding import Binding
from powercut.targets.kit.embedded import EmbeddedTarget


@functools.cache
def rocksdb_version() -> str:
    """The RocksDB rocksdict carries: what a database it opens writes in its LOG."""
    from rocksdict import Options, Rdict

    with tempfile.TemporaryDirectory(prefix="powercut-rocksdb-") as tmp:
        Rdict(f"{tmp}/db", Options(raw_mode=True)).close()
        m = re.search(r"RocksDB version: (\S+)", Path(f"{tmp}/db/LOG").read_text())
    return m.group(1) if m else "unknown"


def _rocksdict_version() -> dict[str, str]:
    from importlib.metadata import version
    return {"rocksdict_version": version("rocksdict")}


ROCKSDB = Binding("rocksdb", "rocksdict.rocksdict", "", rocksdb_version,
                  "pip install 'powercut[rocksdb]', as its setup.sh does",
                  extra=_rocksdict_version)


class RocksDBTarget(EmbeddedTarget):
    name = "rocksdb"
    summary = "RocksDB (rocksdict, PyPI): acknowledged puts and a delete, a flush, a compaction"
    binding = ROCKSDB
    library = Path(__file__).with_name("library.py")
    options = (
        writes_option("rocksdb"),
        Option("--sync", "WriteOptions.sync of every put and delete of the rocksdb "
               "workload: true (default) or false.", ("record",), ("rocksdb",),
               metavar="BOOL"),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        sync = str(options.get("sync") or "true").lower()
        if sync not in ("true", "false"):
            raise PowercutError(f"--sync {sync!r}: expected true or false")
        return self.library_workload(options, {"sync": sync == "true"})


TARGET = RocksDBTarget()
