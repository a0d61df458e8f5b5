"""A set of content keys whose memory stays flat however many states an enumeration meets.

The first `MEMORY_KEYS` keys live in a Python set; past that they go to a
SQLite table in a temporary file (indexed, no fsync: it only lives as long
as the enumeration). Lookups check memory first. Removed with `close()`
(or when garbage collected); it must never leave its file behind.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import weakref

MEMORY_KEYS = 1 << 14


def _remove(path: str, db: sqlite3.Connection) -> None:
    with contextlib.suppress(Exception):
        db.close()
    with contextlib.suppress(OSError):
        os.unlink(path)


class KeySet:
    """`add(key)` says whether the key is new; memory holds at most `memory_keys` keys."""

    def __init__(self, memory_keys: int = MEMORY_KEYS) -> None:
        self._memory: set[str] = set()
        self._limit = memory_keys
        self._db: sqlite3.Connection | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _spill(self) -> sqlite3.Connection:
        fd, path = tempfile.mkstemp(prefix="powercut-keys-", suffix=".sqlite")
        os.close(fd)
        db = sqlite3.connect(path, check_same_thread=False)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE keys (k TEXT PRIMARY KEY) WITHOUT ROWID")
        self._finalizer = weakref.finalize(self, _remove, path, db)
        return db

    def __contains__(self, key: object) -> bool:
        if key in self._memory:
            return True
        if self._db is None or not isinstance(key, str):
            return False
        return self._db.execute("SELECT 1 FROM keys WHERE k = ?", (key,)).fetchone() is not None

    def add(self, key: str) -> bool:
        """Add `key`; True when it was not there yet."""
        if key in self:
            return False
        if len(self._memory) < self._limit:
            self._memory.add(key)
        else:
            if self._db is None:
                self._db = self._spill()
            self._db.execute("INSERT INTO keys VALUES (?)", (key,))
        self._count += 1
        return True

    def close(self) -> None:
        if self._db is not None:
            self._finalizer()
            self._db = None
        self._memory.clear()
