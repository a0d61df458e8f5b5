"""powercut proves its own report writer: record a program rewriting a report, explore it.

The program rewrites `out/report.json` on the recording mount with
`write_text_atomic` four times, each version a different, multi-page JSON
document. Before each call it writes an intent marker for the version it is
about to write, and once the call returns an acknowledgement marker (the
report may now be announced). The checker, given each crash state and the
markers before it, requires `report.json` to be absent only while no version
was acknowledged, and otherwise a complete JSON document of the last
acknowledged version or the one in flight: a torn document is
`unrecoverable`, an older or missing one `data-loss`. Under the default
model the exploration must be clean; the same program with fsync disabled
(a bare write-then-rename) must not be.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.own_writers import powercut, record_and_explore

VERSIONS = 4

WRITER = '''
"""Rewrite <mnt>/out/report.json VERSIONS times through write_text_atomic, acknowledging each."""
import json, os, sys
from powercut.explorer.report.files import write_text_atomic

mnt = sys.argv[1]
if sys.argv[2:] == ["nosync"]:  # the negative control: write, then rename, no fsync at all
    os.fsync = os.fdatasync = lambda fd: None
control = os.path.join(mnt, ".powercut", "marker")
os.mkdir(os.path.join(mnt, "out"))  # the reports in a directory of their own

def marker(**fields):
    with open(control, "a") as f:
        f.write(json.dumps(fields) + "\\n")

for version in range(1, VERSIONS + 1):
    document = {"version": version, "body": [str(version) * 100] * (20 * version)}
    marker(key="report", value=str(version), intent=True)
    write_text_atomic(os.path.join(mnt, "out", "report.json"), json.dumps(document), "report")
    marker(key="report", value=str(version))
'''.replace("VERSIONS + 1", f"{VERSIONS} + 1")

CHECKER = '''
"""Exit 0 when report.json is absent before any acknowledgement, else whole and recent."""
import json, os, sys

state, markers = sys.argv[1], sys.argv[2]
acked, flying = None, None
with open(markers) as f:
    for line in f:
        m = json.loads(line)
        if m.get("key") != "report":
            continue
        if m.get("intent"):
            flying = m["value"]
        else:
            acked, flying = m["value"], None
path = os.path.join(state, "out", "report.json")
if os.path.exists(path):
    raw = open(path, "rb").read()
    try:
        document = json.loads(raw)
        version = str(document["version"])
        whole = document == {"version": int(version),
                             "body": [version * 100] * (20 * int(version))}
    except (ValueError, KeyError, TypeError):
        whole = False
    if not whole:
        sys.exit(f"report.json is not a whole report ({len(raw)} bytes)")
else:
    version = None
if version not in {acked, flying}:
    print(json.dumps({"verdict": "data-loss", "missing": [{"key": "report", "value": acked}]}))
    sys.exit(1)
'''


@pytest.mark.fuse
@pytest.mark.parametrize(("how", "status"), [("sync", 0), ("nosync", 1)])
def test_reports_survive_every_crash_state_powercut_finds(tmp_path: Path, how: str,
                                                          status: int) -> None:
    """Clean as written; a write-then-rename without fsync tears or loses the report."""
    trace, explored, document = record_and_explore(tmp_path, "report", WRITER, CHECKER, how)
    assert explored.returncode == status, explored.stdout + explored.stderr
    verdicts = document["summary"]["verdicts"]
    shown = powercut("show", str(trace), cwd=tmp_path).stdout.splitlines()
    renames = [line for line in shown if " rename " in line]
    assert len(renames) == VERSIONS  # every version went through the writer
    if how == "nosync":
        assert set(verdicts) - {"ok"} <= {"unrecoverable", "data-loss"}
        assert verdicts.get("unrecoverable", 0) + verdicts.get("data-loss", 0) > 0
        # The renamed name over pages that never reached the disk: an empty or torn report.
        failing = {s["signature"] for s in document["states"] if s["verdict"] != "ok"}
        assert "report.json is not a whole report (N bytes)" in failing
        return
    assert verdicts == {"ok": document["summary"]["states_enumerated"]}
    # The file and its directory were both synced for every version.
    assert sum(1 for line in shown if " fsync " in line) == VERSIONS
    assert sum(1 for line in shown if " fsyncdir " in line) == VERSIONS
