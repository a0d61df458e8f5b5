"""RocksDB as the kit's child program runs it (`kit/child.py`), through rocksdict: open, put, read.

Loaded by its path in a child of its own; only the standard library and
rocksdict (which carries its own RocksDB) are imported. Keys and values are
bytes (`raw_mode`), and every put and delete uses the recorded
`WriteOptions.sync`. After its writes the workload flushes the memtable to
a table file and compacts, then crashes. A check opens the database as an
application using rocksdict does (`Rdict(path, options)`: the default
options, which create a database where there is none) and reads every key
back. rocksdict raises a bare `Exception` with RocksDB's status text
("Corruption: ...", "IO error: ..."): that, and only that, is the
database's own refusal (`RocksDBError`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rocksdict import Options, Rdict, WriteOptions

T = TypeVar("T")


class RocksDBError(Exception):
    """RocksDB refused to open or read the database (its status text)."""


ERRORS = (RocksDBError,)


def _said(call: Callable[[], T]) -> T:
    try:
        return call()
    except Exception as e:
        if type(e) is Exception:  # rocksdict's RocksDB status, not a bug of this program
            raise RocksDBError(str(e)) from None
        raise


def open_db(db_dir: str, settings: dict[str, Any], create: bool) -> Rdict:
    db = _said(lambda: Rdict(db_dir, Options(raw_mode=True)))
    options = WriteOptions()
    options.sync = bool(settings["sync"])
    db.set_write_options(options)
    return db


def write(db: Rdict, key: str, value: str | None, sync: bool) -> None:
    if value is None:
        db.delete(key.encode())
    else:
        db.put(key.encode(), value.encode())


def finish(db: Rdict, settings: dict[str, Any]) -> None:
    """The memtable flushed to a table file, and a compaction (then the crash)."""
    db.flush(True)
    db.compact_range(None, None)


def read(db: Rdict, keys: list[str]) -> dict[str, str | None]:
    def values() -> dict[str, str | None]:
        seen = sum(1 for _ in db.items())  # every key and value: a corrupt table shows
        found = {}
        for key in keys:
            value = db.get(key.encode())
            found[key] = None if value is None else bytes(value).decode("utf-8", "replace")
        print(f"opened: {seen} keys")
        return found

    try:
        return _said(values)
    finally:
        db.close()
