"""Workload `leveldb`: a small program puts and deletes through plyvel on the mount, then crashes.

The plan is the shared one (`powercut.targets.writes`), values padded to
`value_size` bytes: every write with `sync=True` unless `sync_every` K > 1,
when only every K-th (and the last) is synced and acknowledges the
unsynced writes before it too, as LevelDB documents ("a sync write makes
every earlier write durable"): the pattern of LazyFS's LevelDB #4/#5. A
full compaction (`compact_range`) follows, then `os._exit`: a crash. The
program (`program.py`) runs as a child with this interpreter, in its own
process group; it writes the intent before each request and the
acknowledgements after it returns.

The header records the LevelDB version (and library digest) plyvel runs,
`writes`, `value_size` and `sync_every`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut.process import last_lines
from powercut.recorder.markers import CONTROL_DIR, MARKER_FILE
from powercut.recorder.workload import Outcome, start
from powercut.targets.leveldb import library
from powercut.targets.writes import Write, plan_writes

DEFAULT_WRITES = 100
DEFAULT_VALUE_SIZE = 100
DB_DIR = "db"
PROGRAM = Path(__file__).with_name("program.py")


def padded(value: str | None, size: int) -> str | None:
    return None if value is None else value + "." * max(0, size - len(value))


def steps(writes: int, value_size: int, sync_every: int) -> list[dict[str, Any]]:
    """The program's steps: each write, its sync flag, its intent and the acks it earns.

    An unsynced write is acknowledged by the next sync write, with each key's last value
    only: acknowledging a superseded value first would, at a crash between the two
    markers, expect the old value.
    """
    plan = [Write(w.key, padded(w.value, value_size)) for w in plan_writes(writes)]
    out: list[dict[str, Any]] = []
    pending: dict[str, Write] = {}
    for i, w in enumerate(plan):
        sync = (i + 1) % sync_every == 0 or i == len(plan) - 1
        pending.pop(w.key, None)
        pending[w.key] = w
        acks = [p.marker() for p in pending.values()] if sync else []
        if sync:
            pending = {}
        out.append({"key": w.key, "value": w.value, "sync": sync,
                    "intent": w.marker(intent=True), "acks": acks})
    return out


@dataclass(frozen=True)
class LevelDBWrites:
    """plyvel puts and deletes into `db/` under the mount, then a compaction and a crash."""

    writes: int = DEFAULT_WRITES
    value_size: int = DEFAULT_VALUE_SIZE
    sync_every: int = 1
    name: str = "leveldb"

    def header(self) -> dict[str, Any]:
        return {"name": self.name, **library.header(), "db_dir": DB_DIR,
                "writes": self.writes, "value_size": self.value_size,
                "sync_every": self.sync_every}

    def run(self, mnt: Path, workdir: Path, timeout: float) -> Outcome:
        plan = workdir / "plan.json"
        plan.write_text(json.dumps({"steps": steps(self.writes, self.value_size,
                                                   self.sync_every), "compact": True}))
        log = workdir / "leveldb.log"
        argv = [sys.executable, "-I", str(PROGRAM), "workload", str(mnt / DB_DIR), str(plan),
                os.environ.get("POWERCUT_MARKER") or str(mnt / CONTROL_DIR / MARKER_FILE)]
        child = start(argv, log)
        try:
            exit = child.wait(timeout)
            if exit is None:
                return Outcome(False, f"the LevelDB program still ran after {timeout:g}s")
            if exit.status != 0:
                return Outcome(False, f"the LevelDB program failed ({exit.describe}): "
                                      f"{last_lines(log)}")
            return Outcome(True, last_lines(log, 1))
        finally:
            child.kill(grace=0)
