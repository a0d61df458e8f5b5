"""SQLite as the kit's child program runs it (`kit/child.py`): open, commit, read back.

Loaded by its path in a child of its own; only the standard library is
imported (Python's `sqlite3`, linked against the system's libsqlite3). The
database is `app.db` in the state's directory, one table `kv`; every write
is a transaction of its own (autocommit: the statement commits before it
returns), in the recorded `journal_mode` and at the recorded
`synchronous`. A check opens the database read-write as an application
does (so a hot rollback journal or a WAL is recovered, as SQLite documents),
never creating one, then runs `PRAGMA integrity_check`: anything but `ok`
is a database SQLite says is corrupt.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

DB_FILE = "app.db"
ERRORS = (sqlite3.DatabaseError,)  # "database disk image is malformed", "not a database"...
SETUP = "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"
PUT = "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
DELETE = "DELETE FROM kv WHERE k = ?"


def _pragmas(conn: sqlite3.Connection, settings: dict[str, Any]) -> None:
    conn.execute(f"PRAGMA journal_mode={settings['journal_mode']}")
    conn.execute(f"PRAGMA synchronous={settings['synchronous']}")


def open_db(db_dir: str, settings: dict[str, Any], create: bool) -> sqlite3.Connection | None:
    path = os.path.join(db_dir, DB_FILE)
    if not create and not os.path.exists(path):
        print(f"no database: no {DB_FILE}")
        return None
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, isolation_level=None)
    if create:
        _pragmas(conn, settings)
        conn.execute(SETUP)
        return conn
    conn.execute(f"PRAGMA synchronous={settings['synchronous']}")
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise sqlite3.DatabaseError("integrity_check: " + "; ".join(problems[:3]))
    return conn


def write(conn: sqlite3.Connection, key: str, value: str | None, sync: bool) -> None:
    if value is None:
        conn.execute(DELETE, (key,))
    else:
        conn.execute(PUT, (key, value))


def read(conn: sqlite3.Connection, keys: list[str]) -> dict[str, str | None]:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    values: dict[str, str | None] = dict.fromkeys(keys)
    if "kv" in tables:
        rows = dict(conn.execute("SELECT k, v FROM kv").fetchall())
        values = {key: rows.get(key) for key in keys}
        print(f"opened: {len(rows)} rows")
    else:
        print("opened: no table kv yet")
    conn.close()
    return values
