"""A program that writes through `mmap`, which only the kernel file-system mode can follow.

LMDB with `writemap=True` changes its database by storing into a shared
mapping: no `write(2)` ever reaches a file-level recorder. On a kernel
ext4, the mapping's dirty pages are written back to the image like any
others, so powercut sees them. Each put is its own transaction,
acknowledged once `commit()` returns:

- with `sync=True` (LMDB's default), a commit msyncs the map and
  fdatasyncs the file before it returns, so no acknowledged put is ever
  lost: clean;
- with `sync=False`, a commit returns with the pages only in the page
  cache: a power cut loses acknowledged puts, and powercut must say so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.fuse, pytest.mark.kernelfs]

PUTS = 4

PROGRAM = '''
import json, os, sys
import lmdb
root, sync = sys.argv[1], sys.argv[2] == "sync"
env = lmdb.open(os.path.join(root, "db"), map_size=1 << 22, writemap=True, sync=sync,
                metasync=sync, subdir=True)
with open(os.environ["POWERCUT_MARKER"], "a", buffering=1) as marker:
    for i in range(PUTS):
        key, value = f"key-{i}", f"value-{i}" * 100
        with env.begin(write=True) as txn:
            txn.put(key.encode(), value.encode())
        marker.write(json.dumps({"text": f"put {key}", "key": key, "value": value}) + "\\n")
env.close()
'''.replace("PUTS", str(PUTS))

CHECKER = '''
import json, os, sys
import lmdb
root, markers = sys.argv[1], sys.argv[2]
acked = [json.loads(line) for line in open(markers) if line.strip()]
path = os.path.join(root, "db")
if not os.path.exists(os.path.join(path, "data.mdb")):
    if acked:
        print(json.dumps({"verdict": "data-loss", "missing": [m["key"] for m in acked]}))
        sys.exit(1)
    sys.exit(0)
env = lmdb.open(path, readonly=True, lock=False, subdir=True)
with env.begin() as txn:
    missing = [m["key"] for m in acked if txn.get(m["key"].encode()) != m["value"].encode()]
if missing:
    print(json.dumps({"verdict": "data-loss", "missing": missing}))
    sys.exit(1)
'''


def run(tmp_path: Path, sync: str) -> dict:
    (tmp_path / "program.py").write_text(PROGRAM)
    (tmp_path / "checker.py").write_text(CHECKER)
    trace = tmp_path / f"{sync}.trace"
    done = subprocess.run(
        [sys.executable, "-m", "powercut", "record", "--fs", "ext4", "--fs-size", "64M", "-o",
         str(trace), "--", sys.executable, str(tmp_path / "program.py"), "{mnt}", sync],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = tmp_path / f"{sync}.json"
    done = subprocess.run(
        [sys.executable, "-m", "powercut", "explore", str(trace), "--no-cache", "--budget",
         "300", "--json", str(report), "--check-cmd",
         f"{sys.executable} {tmp_path / 'checker.py'} {{dir}} {{markers}}"],
        capture_output=True, text=True, timeout=1200)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr
    return json.loads(report.read_text())


def test_lmdb_writemap_syncing_each_commit_loses_nothing(tmp_path: Path) -> None:
    report = run(tmp_path, "sync")
    assert report["causes"] == [], [c["summary"] for c in report["causes"]]
    assert report["summary"]["verdicts"].get("ok", 0) > 0


def test_lmdb_writemap_without_sync_loses_acknowledged_puts(tmp_path: Path) -> None:
    report = run(tmp_path, "nosync")
    lost = [c for c in report["causes"] if c["verdict"] == "data-loss"]
    assert lost, report["causes"]
    assert any(key.startswith("key-") for c in lost for key in c["missing"])
    # Said in files: the database (its directory, never synced into the root), not blocks.
    assert any(ch["path"] == "db" or ch["path"].startswith("db/") for c in lost
               for ch in (c["files"] or {}).get("changes", [])), lost
