"""`powercut explore --check-cmd` on programs of the test's own, recorded through real FUSE.

One updates a 3-page file in place with a single write and no fsync (a torn
write leaves a mix of old and new: vulnerable, exit 1); the other writes a
temp file, fsyncs it, renames it over and fsyncs the directory (clean under
the default model, exit 0). The checker accepts a missing file, all-old or
all-new, and nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from powercut.replayer.state import unfold_ids

PROGRAM = '''
import os, sys
directory, how = sys.argv[1], sys.argv[2]
path = os.path.join(directory, "data")
OLD, NEW = b"o" * 3 * 4096, b"n" * 3 * 4096

def replace_safely(content):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, content)
    os.fsync(fd)
    os.close(fd)
    os.rename(tmp, path)
    dfd = os.open(directory, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)

replace_safely(OLD)
if how == "unsafe":
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, NEW)  # in place, one multi-page write, no fsync, no rename
    os.close(fd)
else:
    replace_safely(NEW)
'''

CHECKER = '''
import os, sys
path = os.path.join(sys.argv[1], "data")
if os.path.exists(path):
    content = open(path, "rb").read()
    if content not in (b"o" * 3 * 4096, b"n" * 3 * 4096):
        sys.exit(f"data is torn: {content.count(b'o')} old and {content.count(b'n')} new bytes")
'''


def powercut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, timeout=300)


def lost_pages(lost: list[str], path: str) -> set[int]:
    """The pages of `path` a state's name says were lost."""
    return {int(uid.rpartition(":")[2]) for uid in unfold_ids(lost)
            if uid.rpartition(":")[0] == path}


def recorded(tmp_path: Path, how: str) -> Path:
    (tmp_path / "update.py").write_text(PROGRAM)
    trace = tmp_path / f"{how}.trace"
    done = powercut("record", "--workload", "command", "-o", str(trace), "--",
                    sys.executable, str(tmp_path / "update.py"), "{mnt}", how)
    assert done.returncode == 0, done.stderr
    return trace


@pytest.mark.fuse
@pytest.mark.parametrize(("how", "status"), [("unsafe", 1), ("safe", 0)])
def test_update_in_place_is_vulnerable_and_rename_is_clean(how: str, status: int,
                                                            tmp_path: Path) -> None:
    trace = recorded(tmp_path, how)
    (tmp_path / "check.py").write_text(CHECKER)
    report = tmp_path / "report.json"
    done = powercut("explore", str(trace), "--check-cmd",
                    f"{sys.executable} {tmp_path / 'check.py'} {{dir}}", "--workers", "2",
                    "--json", str(report))
    assert done.returncode == status, done.stdout + done.stderr
    states = json.loads(report.read_text())["states"]
    failing = [s for s in states if s["verdict"] != "ok"]
    if how == "safe":
        assert not failing
        return
    assert {s["signature"] for s in failing} == {"data is torn: N old and N new bytes"}
    # Every torn subset of the 3 pages of the in-place write: 2**3 minus all and none.
    torn = {tuple(p for p in range(3) if p not in lost_pages(s["lost"], "data"))
            for s in failing}
    assert torn == {(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)}
