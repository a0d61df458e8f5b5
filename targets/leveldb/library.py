"""LevelDB as the kit's child program runs it (`kit/child.py`): open, write, compact, read.

Loaded by its path in a child of its own, with the project's interpreter,
whose plyvel is built against Debian's libleveldb (`binding`). Only the
standard library and plyvel are imported here, so a check starts in tens
of milliseconds. A check never repairs and never creates: without
`CURRENT` there is no database (every key reads as absent); the whole
database is scanned, so a corrupt table is found even if no acknowledged
key lives in it.
"""

from __future__ import annotations

import os
from typing import Any

import plyvel

# write_buffer_size and max_file_size at LevelDB's lower clamps, no compression: a small
# workload already switches memtables and writes tables.
OPTIONS: dict[str, Any] = {"write_buffer_size": 64 * 1024, "max_file_size": 1 << 20,
                           "compression": None}
ERRORS = (plyvel.Error,)


def open_db(db_dir: str, settings: dict[str, Any], create: bool) -> plyvel.DB | None:
    if not create and not os.path.exists(os.path.join(db_dir, "CURRENT")):
        print("no database: no CURRENT file")
        return None
    return plyvel.DB(db_dir, create_if_missing=create, **OPTIONS)


def write(db: plyvel.DB, key: str, value: str | None, sync: bool) -> None:
    if value is None:
        db.delete(key.encode(), sync=sync)
    else:
        db.put(key.encode(), value.encode(), sync=sync)


def finish(db: plyvel.DB, settings: dict[str, Any]) -> None:
    """A full compaction after the writes (then the crash)."""
    db.compact_range()


def read(db: plyvel.DB, keys: list[str]) -> dict[str, str | None]:
    try:
        seen = sum(1 for _ in db.iterator(fill_cache=False))
        values = {}
        for key in keys:
            value = db.get(key.encode())
            values[key] = None if value is None else value.decode("utf-8", "replace")
    finally:
        db.close()
    print(f"opened: {seen} keys")
    return values
