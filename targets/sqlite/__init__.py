"""The `sqlite` target: the system's SQLite through Python's `sqlite3`, committed writes read back.

Workload `sqlite` (the kit's child program commits `--writes N` puts and
one delete, each a transaction of its own, into `app.db` at the mount's
root, in `--journal-mode` DELETE or WAL at `--synchronous` OFF, NORMAL,
FULL or EXTRA, then crashes); checker `sqlite` (open the state's database
as an application does, `PRAGMA integrity_check`, read every acknowledged
key back). Both are the kit's embedded-database template filled in with
`library.py`. SQLite's documentation of `PRAGMA synchronous` says what each
setting must give after a power loss; the target's tests hold the explorer
to it (`tests/test_sqlite.py`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powercut.errors import PowercutError
from powercut.recorder.workload import Workload
from powercut.targets.base import Option
from powercut.targets.kit import writes_option
from powercut.targets.kit.binding import Binding
from powercut.targets.kit.embedded import EmbeddedTarget

JOURNAL_MODES = ("delete", "wal")
SYNCHRONOUS = ("off", "normal", "full", "extra")
SQLITE = Binding("sqlite", "_sqlite3", "libsqlite3", lambda: sqlite3.sqlite_version,
                 "the system's libsqlite3 (apt libsqlite3-0), which Python's sqlite3 links")


class SQLiteTarget(EmbeddedTarget):
    name = "sqlite"
    summary = "SQLite (the system's, through Python's sqlite3): committed transactions"
    binding = SQLITE
    library = Path(__file__).with_name("library.py")
    db_dir = "."  # app.db at the mount's root, as an application keeps its database
    options = (
        writes_option("sqlite"),
        Option("--journal-mode", "SQLite's journal_mode for the sqlite workload: delete "
               "(default) or wal.", ("record",), ("sqlite",), metavar="MODE"),
        Option("--synchronous", "SQLite's synchronous for the sqlite workload: off, normal, "
               "full (default) or extra.", ("record",), ("sqlite",), metavar="LEVEL"),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        return self.library_workload(options, {
            "journal_mode": _one_of(options, "journal_mode", JOURNAL_MODES, "delete"),
            "synchronous": _one_of(options, "synchronous", SYNCHRONOUS, "full")})


def _one_of(options: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = str(options.get(key) or default).lower()
    if value not in allowed:
        flag = "--" + key.replace("_", "-")
        raise PowercutError(f"{flag} {value!r}: expected one of {', '.join(allowed)}")
    return value


TARGET = SQLiteTarget()
