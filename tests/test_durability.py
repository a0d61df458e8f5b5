"""Negative control for the durability oracle, through real FUSE and `powercut explore`.

A tiny key-value store of the test's own appends `key=value` lines to a log
and acknowledges each write with a marker (`.powercut/marker`). Acknowledging
before the fsync loses acknowledged writes in some crash states (`data-loss`,
exit 1); fsyncing first is clean (exit 0). Its checker reads `{markers}`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from powercut.explorer.checkers import durability
from powercut.explorer.verdict import LostWrite
from powercut.trace import Op

STORE = r'''
import json, os, sys
mnt, how = sys.argv[1], sys.argv[2]
fd = os.open(os.path.join(mnt, "log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
dfd = os.open(mnt, os.O_RDONLY)
os.fsync(dfd)
marker = os.open(os.path.join(mnt, ".powercut", "marker"), os.O_WRONLY | os.O_APPEND)
for i, (key, value) in enumerate([("a", "1"), ("b", "2"), ("c", "3")]):
    os.write(fd, f"{key}={value}\n".encode())
    if how == "safe":
        os.fsync(fd)
    os.write(marker, (json.dumps({"key": key, "value": value}) + "\n").encode())
    if how == "unsafe":
        os.fsync(fd)
'''

CHECK = r'''
import json, os, sys
directory, markers = sys.argv[1], sys.argv[2]
want = {}
for line in open(markers):
    m = json.loads(line)
    want[m["key"]] = m["value"]
have = {}
path = os.path.join(directory, "log")
if os.path.exists(path):
    for line in open(path).read().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            have[k] = v
missing = [{"key": k, "value": v} for k, v in want.items() if have.get(k) != v]
if missing:
    print(json.dumps({"verdict": "data-loss", "missing": missing}))
    sys.exit(1)
'''


def powercut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, timeout=300)


def test_expected_is_the_last_acknowledged_value() -> None:
    def marker(seq: int, **extra: object) -> Op:
        return Op(seq=seq, t_ns=0, pid=1, op="marker", text="ack", extra=extra)

    markers = [marker(1, key="a", value="1"), marker(2, key="b", value="2"),
               marker(3, key="a", value="3"), marker(4, key="b", value=None, deleted=True),
               marker(5)]
    want = durability.expected(markers)
    assert want.acked == {"a": "3", "b": None}
    assert durability.lost(want, {"a": "3"}.get) == []
    assert durability.lost(want, {"a": "1", "b": "2"}.get) == [
        LostWrite("a", "3", "1"), LostWrite("b", None, "2")]
    # A write in flight (intent recorded, no acknowledgement yet) may or may not be there.
    flying = durability.expected([*markers, marker(6, key="a", value="4", intent=True),
                                  marker(7, key="c", value="5", intent=True)])
    assert flying.in_flight == {"a": frozenset({"4"})}
    assert durability.lost(flying, {"a": "4"}.get) == []
    assert durability.lost(flying, {"a": "1"}.get) == [LostWrite("a", "3", "1")]
    # Both documented forms of `missing` (see test_checker_errors).
    assert durability.reported_loss('x\n{"verdict": "data-loss", "missing": ["k"]}\n') == [
        LostWrite("k")]
    assert durability.reported_loss(
        '{"verdict": "data-loss", "missing": [{"key": "k", "value": "v"}, 3]}') == [
        LostWrite("k", "v"), LostWrite("3")]
    assert durability.reported_loss("exit 1\n") is None


@pytest.mark.fuse
@pytest.mark.parametrize(("how", "status"), [("unsafe", 1), ("safe", 0)])
def test_acknowledging_before_fsync_loses_data(how: str, status: int, tmp_path: Path) -> None:
    (tmp_path / "store.py").write_text(STORE)
    (tmp_path / "check.py").write_text(CHECK)
    trace = tmp_path / f"{how}.trace"
    done = powercut("record", "--workload", "command", "-o", str(trace), "--",
                    sys.executable, str(tmp_path / "store.py"), "{mnt}", how)
    assert done.returncode == 0, done.stderr
    report = tmp_path / "report.json"
    done = powercut("explore", str(trace), "--check-cmd",
                    f"{sys.executable} {tmp_path / 'check.py'} {{dir}} {{markers}}",
                    "--workers", "2", "--json", str(report))
    assert done.returncode == status, done.stdout + done.stderr
    result = json.loads(report.read_text())
    failing = {s["verdict"] for s in result["states"] if s["verdict"] != "ok"}
    if how == "safe":
        assert failing == set()
        return
    assert failing == {"data-loss"}
    kinds = {(c["kind"], c["verdict"]) for c in result["causes"]}
    assert kinds == {("lost-data", "data-loss")}
    lost = {k for c in result["causes"] for k in c["missing"]}
    assert lost == {"a", "b", "c"}
