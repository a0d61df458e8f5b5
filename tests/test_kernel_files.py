"""A kernel trace's cause is said in the program's files, with the kind the files give.

A program makes `log` durable, appends an entry to it without an fsync,
fsyncs another file (the journal commits, but the append's blocks are not
allocated yet on ext4) and acknowledges the entry. A crash after the
acknowledgement leaves `log` as it was: the same file, shorter. The cause
must say so in files ("log is short"), be `lost-data` (its content, not a
name, was lost: inode numbers compared on the file system itself), and
name the flush that made the entry durable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.fuse, pytest.mark.kernelfs]

PROGRAM = r'''
import json, os, sys
root = sys.argv[1]
log = os.path.join(root, "log")
fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"header\n")
os.fsync(fd)
d = os.open(root, os.O_RDONLY); os.fsync(d); os.close(d)
os.write(fd, b"entry 1\n" * 512)                  # appended, not synced
other = os.open(os.path.join(root, "other"), os.O_WRONLY | os.O_CREAT, 0o644)
os.write(other, b"x"); os.fsync(other)           # commits the journal
with open(os.environ["POWERCUT_MARKER"], "a") as m:
    m.write(json.dumps({"text": "entry 1 acknowledged", "key": "entry-1", "value": "1"}) + "\n")
os.fsync(fd)                                     # durable only now
'''

CHECKER = r'''
import json, os, sys
root, markers = sys.argv[1], sys.argv[2]
acked = [json.loads(line) for line in open(markers) if line.strip()]
try:
    data = open(os.path.join(root, "log"), "rb").read()
except FileNotFoundError:
    data = b""
if acked and b"entry 1\n" * 512 not in data:
    print(json.dumps({"verdict": "data-loss", "missing": ["entry-1"]}))
    sys.exit(1)
'''


def test_an_unsynced_append_is_lost_data_of_that_file(tmp_path: Path) -> None:
    (tmp_path / "program.py").write_text(PROGRAM)
    (tmp_path / "checker.py").write_text(CHECKER)
    trace = tmp_path / "t.trace"
    done = subprocess.run(
        [sys.executable, "-m", "powercut", "record", "--fs", "ext4", "--fs-size", "64M", "-o",
         str(trace), "--", sys.executable, str(tmp_path / "program.py"), "{mnt}"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "powercut", "explore", str(trace), "--no-cache", "--budget",
         "300", "--json", str(report), "--check-cmd",
         f"{sys.executable} {tmp_path / 'checker.py'} {{dir}} {{markers}}"],
        capture_output=True, text=True, timeout=1200)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    [cause] = json.loads(report.read_text())["causes"]
    assert cause["kind"] == "lost-data" and cause["roles"] == ["log"], cause
    [change] = cause["files"]["changes"]
    assert (change["path"], change["change"]) == ("log", "size")
    assert change["words"].startswith("log is short")
    assert "before marker 'entry 1 acknowledged'" in cause["barrier"]
    assert cause["files"]["durable_at"]["op"] == "fsync"
