"""Kernel file systems held to known answers: a positive and a negative control on each.

A program makes `cfg` by `write cfg.tmp; rename cfg.tmp cfg`, then fsyncs
an unrelated file, which commits the journal with the rename in it, and
acknowledges. The checker wants `cfg` absent or whole before the
acknowledgement, and whole after it.

- Unsafe (no fsync of `cfg.tmp`): ext4 allocates the file's blocks only at
  writeback (delayed allocation), so the commit carries the rename and an
  inode of size 0 while the data is still in memory; `auto_da_alloc` only
  rescues a rename over an existing file. A crash after the commit leaves
  `cfg` empty, on `data=writeback` (and on `data=ordered` alike). powercut,
  with the real kernel recovering each crash image, must find it.
- Safe (fsync `cfg.tmp` before the rename, fsync the directory after it):
  no crash state may fail, on ext4 (ordered and writeback), XFS or btrfs.

Recorded through the real FUSE mount and checked on loop devices the real
kernel mounts; nothing may be left attached or mounted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.fuse, pytest.mark.kernelfs]

PROGRAM = '''
import json, os, sys
root, how = sys.argv[1], sys.argv[2]
cfg, tmp = os.path.join(root, "cfg"), os.path.join(root, "cfg.tmp")

def write(path, data, sync):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    if sync:
        os.fsync(fd)
    os.close(fd)

def sync_dir():
    fd = os.open(root, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)

write(tmp, b"new " * 2048, how == "safe")
os.rename(tmp, cfg)
if how == "safe":
    sync_dir()
write(os.path.join(root, "other"), b"x", True)   # commits the journal
with open(os.environ["POWERCUT_MARKER"], "a") as m:
    m.write(json.dumps({"text": "cfg made", "key": "cfg", "value": "new"}) + "\\n")
'''

CHECKER = '''
import json, os, sys
root, markers = sys.argv[1], sys.argv[2]
acked = any(json.loads(line).get("key") == "cfg" for line in open(markers) if line.strip())
try:
    data = open(os.path.join(root, "cfg"), "rb").read()
except FileNotFoundError:
    data = None
if data == b"new " * 2048 or (data is None and not acked):
    sys.exit(0)
if data is None:
    print(json.dumps({"verdict": "data-loss", "missing": ["cfg"]}))
    sys.exit(1)
sys.exit(f"cfg is torn: {len(data)} bytes, {data.count(b'new ')} of 2048 words")
'''


def powercut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, timeout=900)


# The default set checks a share of each trace's states (all-kept first, then torn and lost
# writes: where the known failures are); `scripts/test --all` checks every state.
BUDGET = "300"


def record_and_explore(tmp_path: Path, how: str, fs: str, *options: str,
                       budget: str = BUDGET) -> dict:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    checker = tmp_path / "checker.py"
    checker.write_text(CHECKER)
    trace = tmp_path / f"{how}.trace"
    size = "320M" if fs == "xfs" else "128M"
    done = powercut("record", "--fs", fs, "--fs-size", size, *options, "-o", str(trace), "--",
                    sys.executable, str(program), "{mnt}", how)
    assert done.returncode == 0, done.stdout + done.stderr
    report = tmp_path / f"{how}.json"
    done = powercut("explore", str(trace), "--no-cache", "--json", str(report), "--check-cmd",
                    f"{sys.executable} {checker} {{dir}} {{markers}}", "--budget", budget)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr
    return json.loads(report.read_text())


def test_a_rename_without_fsync_leaves_an_empty_file_on_ext4_writeback(tmp_path: Path) -> None:
    report = record_and_explore(tmp_path, "unsafe", "ext4", "--mount-opt", "data=writeback")
    assert report["kernel"] == "ext4 data=writeback"
    causes = report["causes"]
    assert causes, "the unsafe replace passed on ext4 data=writeback"
    failing = report["summary"]["verdicts"]
    assert failing.get("unrecoverable", 0) + failing.get("data-loss", 0) > 0
    # Said in files: cfg, not blocks of disk.img.
    assert any(ch["path"] == "cfg" for c in causes for ch in (c["files"] or {}).get(
        "changes", [])), causes


@pytest.mark.parametrize(("fs", "options"), [
    ("ext4", ()), ("ext4", ("--mount-opt", "data=writeback")), ("xfs", ()), ("btrfs", ()),
], ids=["ext4", "ext4-writeback", "xfs", "btrfs"])
def test_fsync_then_rename_then_directory_fsync_passes(tmp_path: Path, fs: str,
                                                        options: tuple[str, ...]) -> None:
    report = record_and_explore(tmp_path, "safe", fs, *options)
    assert report["causes"] == [], report["causes"]
    verdicts = report["summary"]["verdicts"]
    assert set(verdicts) == {"ok"} and verdicts["ok"] > 10, verdicts


@pytest.mark.slow
def test_every_state_of_the_safe_replace_passes_on_ext4(tmp_path: Path) -> None:
    report = record_and_explore(tmp_path, "safe", "ext4", budget="100000")
    assert report["summary"]["coverage"]["share"] == 1.0
    assert report["causes"] == [] and set(report["summary"]["verdicts"]) == {"ok"}
