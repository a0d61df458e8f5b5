"""The `leveldb` checker: open the crash state's database without repair and read every key back.

The LevelDB program (`program.py check`) runs with this interpreter in its
own process group: it opens `db/` with `create_if_missing=False` and no
repair, scans it, and writes the value of every acknowledged key to a file
in the scratch directory. An error opening or reading is `unrecoverable`
(LevelDB's message is the signature); no answer within `limit()` a `hang`;
a key missing or with another value `data-loss`. The LevelDB plyvel links
here must be the version the trace was recorded with.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut.errors import CheckerError
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
)
from powercut.explorer.verdict import Verdict
from powercut.process import Child
from powercut.targets.leveldb import library
from powercut.targets.leveldb.workload import DB_DIR, PROGRAM
from powercut.trace import Op


class LevelDBChecker(Checker):
    """Opens each state's LevelDB (no repair); every acknowledged key read back is ok."""

    name = "leveldb"
    uses_markers = True

    def __init__(self, workload: Mapping[str, Any], *, timeout: float = DEFAULT_TIMEOUT
                 ) -> None:
        missing = library.problem()
        if missing is not None:
            raise CheckerError(missing)
        here = library.versions()["leveldb_version"]
        want = workload.get("leveldb_version")
        if isinstance(want, str) and want != here:
            raise CheckerError(f"the trace was recorded with LevelDB {want}; plyvel here runs "
                               f"LevelDB {here} ({library.SETUP})")
        self.version = here
        self.db_dir = str(workload.get("db_dir") or DB_DIR)
        self.timeout = timeout

    def describe(self) -> str:
        return f"leveldb (LevelDB {self.version} through plyvel, {self.db_dir}/)"

    def identity(self) -> str:
        parts = [self.describe(), f"program={file_fingerprint(PROGRAM)}",
                 f"plyvel={file_fingerprint(library.extension())}"]
        linked = library.linked()
        if linked is not None:
            parts.append(f"libleveldb={file_fingerprint(linked)}")
        return " ".join([*parts, f"timeout={self.timeout:g}"])

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        want = durability.expected(markers)
        with scratch_dir(scratch) as work:
            keys, out = work / "keys.json", work / "values.json"
            keys.write_text(json.dumps([key for key, _ in want.items()]))
            argv = [sys.executable, "-I", str(PROGRAM), "check", str(directory / self.db_dir),
                    str(keys), str(out)]
            with Child(argv, work / "leveldb-check.log") as child:
                exit = child.wait(self.limit())
                if exit is None:
                    child.kill(grace=0)
                    return failure_verdict("hang", child, None)
                if exit.status != 0:
                    return failure_verdict("unrecoverable", child, exit)
                values = json.loads(out.read_text())
                evidence = {"argv": child.argv}
                missing = durability.lost(want, values.get)
                if missing:
                    return durability.data_loss(missing, child.elapsed, evidence)
                return Verdict("ok", duration=child.elapsed, evidence=evidence)
