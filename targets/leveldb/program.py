"""The LevelDB program powercut runs as a child: the workload's writes, or a crash state's check.

    python program.py workload DB PLAN MARKERS   # apply PLAN (JSON) to DB, then crash
    python program.py check DB KEYS OUT          # open DB, read KEYS (JSON), write OUT (JSON)

Run with the project's interpreter, whose plyvel is built against Debian's
libleveldb (`library`). Only the standard library and plyvel are imported
here, so a check starts in tens of milliseconds. The workload ends with
`os._exit`: no close, a crash as LevelDB sees one. A check never repairs and
never creates: without `CURRENT` there is no database (every key reads as
absent), an error opening or reading is exit 2 with LevelDB's message as
the last line.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import plyvel

# write_buffer_size and max_file_size at LevelDB's lower clamps, no compression: a small
# workload already switches memtables and writes tables.
OPTIONS: dict[str, Any] = {"write_buffer_size": 64 * 1024, "max_file_size": 1 << 20,
                           "compression": None}
EXIT_UNRECOVERABLE = 2


def workload(db_dir: str, plan_file: str, marker_file: str) -> None:
    """Each step: its intent marker, the put (or delete) with its sync flag, then the
    acknowledgements it earns; then a full compaction, then a crash."""
    with open(plan_file) as f:
        plan = json.load(f)
    markers = os.open(marker_file, os.O_WRONLY | os.O_APPEND)

    def mark(fields: dict[str, Any]) -> None:
        os.write(markers, (json.dumps(fields) + "\n").encode())

    db = plyvel.DB(db_dir, create_if_missing=True, **OPTIONS)
    for step in plan["steps"]:
        mark(step["intent"])
        key = step["key"].encode()
        if step["value"] is None:
            db.delete(key, sync=step["sync"])
        else:
            db.put(key, step["value"].encode(), sync=step["sync"])
        for ack in step["acks"]:
            mark(ack)
    if plan["compact"]:
        db.compact_range()
    print(f"LevelDB {plyvel.__leveldb_version__}: {len(plan['steps'])} writes applied",
          flush=True)
    os._exit(0)


def message(error: Exception) -> str:
    """LevelDB's status text (plyvel gives it as bytes)."""
    first = error.args[0] if error.args else error
    return first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)


def check(db_dir: str, keys_file: str, out_file: str) -> int:
    with open(keys_file) as f:
        keys = json.load(f)
    values: dict[str, str | None] = dict.fromkeys(keys)
    if not os.path.exists(os.path.join(db_dir, "CURRENT")):
        print("no database: no CURRENT file")
    else:
        try:
            db = plyvel.DB(db_dir, create_if_missing=False, **OPTIONS)
        except plyvel.Error as e:
            print(f"open failed: {message(e)}", flush=True)
            return EXIT_UNRECOVERABLE
        try:
            seen = sum(1 for _ in db.iterator(fill_cache=False))
            for key in keys:
                value = db.get(key.encode())
                values[key] = None if value is None else value.decode("utf-8", "replace")
        except plyvel.Error as e:
            print(f"read failed: {message(e)}", flush=True)
            return EXIT_UNRECOVERABLE
        finally:
            db.close()
        print(f"opened: {seen} keys")
    with open(out_file, "w") as f:
        json.dump(values, f)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "workload":
        workload(*argv[1:])
    if len(argv) == 4 and argv[0] == "check":
        return check(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
