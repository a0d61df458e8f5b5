"""The child program an embedded database runs in: a workload's writes, or a crash state's check.

    python -I child.py workload LIBRARY DB SETTINGS PLAN MARKERS   # write PLAN to DB, crash
    python -I child.py check LIBRARY DB SETTINGS KEYS OUT          # open DB, read KEYS into OUT

An embedded database (LevelDB, SQLite, RocksDB) lives in the process that
uses it, so powercut runs it in a process of its own, in its own process
group, as any program it judges. LIBRARY is the target's module file
(`library.py`), loaded by its path; it imports only the standard library
and the database's binding, and defines:

- `ERRORS`: the exceptions the binding raises for a database it cannot
  open or read (its own words are then the verdict's cause);
- `open_db(db, settings, create)`: the database as an application opens it;
- `write(db, key, value, sync)`: one put (or delete, value None);
- `finish(db, settings)`: what the workload does after its writes (a
  compaction), optional;
- `read(db, keys)`: the value of each key (None: absent).

The workload's writes go through the kit's acknowledged-write loop
(`acknowledged.py`, loaded beside this file), and end with `os._exit`: no
close, a crash as the database sees one. A check never creates a database
and never repairs one; an error of `ERRORS` is exit 2 with the database's
message as the last line (`open failed: ...`, `read failed: ...`). Only the
standard library is imported here, so a check starts in tens of
milliseconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

EXIT_UNRECOVERABLE = 2


def load(path: str | Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def workload(library: ModuleType, db_dir: str, settings: dict[str, Any], plan_file: str,
             marker_file: str) -> None:
    kit = load(Path(__file__).with_name("acknowledged.py"), "powercut_acknowledged")
    with open(plan_file) as f:
        writes = [kit.Write(w["key"], w["value"], w["sync"]) for w in json.load(f)]
    markers = os.open(marker_file, os.O_WRONLY | os.O_APPEND)

    def mark(fields: dict[str, Any]) -> None:
        os.write(markers, (json.dumps(fields) + "\n").encode())

    db = library.open_db(db_dir, settings, create=True)
    failed = kit.send_acknowledged(
        mark, writes, lambda w: library.write(db, w.key, w.value, w.sync))
    assert failed is None, failed  # no `errors`: a failing write raises
    finish = getattr(library, "finish", None)
    if finish is not None:
        finish(db, settings)
    print(f"{len(writes)} writes acknowledged", flush=True)
    os._exit(0)


def check(library: ModuleType, db_dir: str, settings: dict[str, Any], keys_file: str,
          out_file: str) -> int:
    with open(keys_file) as f:
        keys = json.load(f)
    stage = "open"
    try:
        db = library.open_db(db_dir, settings, create=False)
        stage = "read"
        values = dict.fromkeys(keys) if db is None else library.read(db, keys)
    except library.ERRORS as e:
        print(f"{stage} failed: {message(e)}", flush=True)
        return EXIT_UNRECOVERABLE
    with open(out_file, "w") as f:
        json.dump(values, f)
    return 0


def message(error: BaseException) -> str:
    """The database's own words (some bindings give them as bytes)."""
    first = error.args[0] if error.args else error
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
    return " ".join(text.split())


def main(argv: list[str]) -> int:
    if len(argv) == 6 and argv[0] in ("workload", "check"):
        library = load(argv[1], "powercut_library")
        settings = json.loads(argv[3])
        if argv[0] == "workload":
            workload(library, argv[2], settings, argv[4], argv[5])
        return check(library, argv[2], settings, argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
