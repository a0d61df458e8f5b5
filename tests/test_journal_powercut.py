"""powercut proves its own journal: record a program appending verdicts, explore its crash states.

The program appends N verdicts through `Journal` on the recording mount
and, after each `append` returns (the verdict may now be reported), says
so: a marker line in `<mnt>/.powercut/marker` when the recorder offers that
control file, and always a line in `<mnt>/reported` (written after the
append, never synced: in any crash state where that line survived, the
verdict before it must have too). The checker loads the journal from each
crash state and fails if it does not load, if a reported verdict is
missing, or if any verdict it holds differs from the one appended. The
exploration must be clean.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.own_writers import powercut, record_and_explore

N = 6

WRITER = '''
"""Append N verdicts to a journal on the mount, reporting each once durable."""
import os, sys
from powercut.explorer.store.journal import Journal
from powercut.explorer.verdict import Verdict

mnt = sys.argv[1]
if sys.argv[2:] == ["nosync"]:  # the negative control: a journal that never syncs
    os.fdatasync = lambda fd: None
control = os.path.join(mnt, ".powercut", "marker")
with Journal.open(os.path.join(mnt, "verdicts.journal"), "proof") as journal:
    for i in range(N):
        # Sizes that cross page boundaries, so appends can tear.
        journal.append(f"k{i}", Verdict("ok" if i % 2 else "unrecoverable",
                                        signature=f"s{i}", log_tail="t" * (1500 * i)))
        if os.path.exists(control):
            with open(control, "a") as f:
                f.write(f'{{"key": "k{i}"}}\\n')
        with open(os.path.join(mnt, "reported"), "a") as f:
            f.write(f"k{i}\\n")
'''.replace("N)", f"{N})")

CHECKER = '''
"""Exit 0 when the journal in the crash state holds every reported verdict, intact."""
import json, os, sys
from powercut.explorer.store.journal import decode_verdict, scan
from powercut.explorer.verdict import Verdict

state, markers = sys.argv[1], sys.argv[2]
reported = set()
with open(markers) as f:
    reported |= {json.loads(line).get("key") for line in f if line.strip()} - {None}
if os.path.exists(os.path.join(state, "reported")):
    with open(os.path.join(state, "reported"), "rb") as f:
        # A torn tail of this unsynced file may hold zeros: only whole lines count.
        reported |= {l.decode() for l in f.read().split(b"\\n")[:-1] if l.startswith(b"k")}
path = os.path.join(state, "verdicts.journal")
found = {}
if os.path.exists(path):
    for key, checker_id, fields in scan(path)[0]:  # raises if it is not a journal
        found[key] = decode_verdict(fields)
lost = sorted(reported - found.keys())
if lost:
    sys.exit(f"reported verdicts lost: {lost}")
for key, verdict in found.items():
    i = int(key[1:])
    want = Verdict("ok" if i % 2 else "unrecoverable", signature=f"s{i}", log_tail="t" * (1500 * i))
    if verdict != want:
        sys.exit(f"verdict {key} differs from the one appended")
'''


@pytest.mark.fuse
@pytest.mark.parametrize(("how", "status"), [("sync", 0), ("nosync", 1)])
def test_the_journal_survives_every_crash_state_powercut_finds(tmp_path: Path, how: str,
                                                               status: int) -> None:
    """Clean as written; the same program with fdatasync disabled loses reported verdicts."""
    trace, explored, document = record_and_explore(tmp_path, "journal", WRITER, CHECKER, how)
    summary = document["summary"]
    assert explored.returncode == status, explored.stdout + explored.stderr
    if how == "nosync":
        lost = {s["signature"].split(":")[0] for s in document["states"] if s["verdict"] != "ok"}
        assert lost == {"reported verdicts lost"}
        return
    assert summary["verdicts"] == {"ok": summary["states_enumerated"]}
    # Every append was synced: the exploration ran over them all.
    shown = powercut("show", str(trace), cwd=tmp_path).stdout.splitlines()
    assert sum(1 for line in shown if " fdatasync " in line) == N
    print(f"\njournal proof: {summary['crash_points']} crash points, "
          f"{summary['states_distinct']} distinct states, all ok")
