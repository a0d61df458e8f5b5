"""Three models in one run share what they can: a state one model judged is not checked again.

A small program recorded through the FUSE mount (a file fsynced and
acknowledged, a config replaced by rename, an append never fsynced) is
explored under lazyfs, ext4-ordered and alice with one `Memo`, each
exploration with a journal of its own (as a library caller has it), then
each model alone from the command line with `--no-cache`. The checker
counts its real runs in a log. The second and third models check only the
states no earlier model judged, and every state gets the verdict the
separate runs gave it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from powercut.explorer.checkers.command import CommandChecker
from powercut.explorer.exploration import Exploration
from powercut.explorer.run.drive import explore
from powercut.explorer.store.memo import Memo
from powercut.trace import open_trace
from tests.test_models_recorded import _env

MODELS = ("lazyfs", "ext4-ordered", "alice")

PROGRAM = r'''
import json, os, sys
mnt = sys.argv[1]
data = os.path.join(mnt, "data")
def ack(key, value):
    with open(os.path.join(mnt, ".powercut", "marker"), "a") as m:
        m.write(json.dumps({"text": f"{key}={value} acknowledged", "key": key,
                            "value": value}) + "\n")
def write(path, text, sync=True):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, text.encode())
    if sync:
        os.fsync(fd)
    os.close(fd)
write(os.path.join(data, "new"), "v1")
ack("new", "v1")
write(os.path.join(data, "cfg.tmp"), "v2")
os.rename(os.path.join(data, "cfg.tmp"), os.path.join(data, "cfg"))
ack("cfg", "v2")
write(os.path.join(data, "log"), "x" * 9000, sync=False)
'''

CHECKER = r'''
import json, os, sys
state, markers = sys.argv[1], sys.argv[2]
with open(RUNS, "a") as runs:
    runs.write("run\n")
missing = []
for line in open(markers):
    m = json.loads(line)
    if "key" not in m:
        continue
    path = os.path.join(state, "data", m["key"])
    if not os.path.exists(path) or open(path).read() != m["value"]:
        missing.append(m["key"])
if missing:
    print(json.dumps({"verdict": "data-loss", "missing": missing}))
    sys.exit(1)
'''


def powercut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, timeout=300, env={"CI": "true", "PATH": "/usr/bin:/bin",
                                                       **_env()})


def verdicts(e: Exploration) -> dict[str, tuple[str, str]]:
    return {j.state.key: (j.outcome.verdict, j.outcome.signature) for j in e.iter_judged()}


@pytest.mark.fuse
def test_three_models_check_each_state_once_with_the_verdicts_of_separate_runs(
        tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    runs = tmp_path / "runs.log"
    (tmp_path / "check.py").write_text(f"RUNS = {str(runs)!r}\n{CHECKER}")
    backing = tmp_path / "backing"
    (backing / "data").mkdir(parents=True)
    (backing / "data" / "cfg").write_text("v1")
    path = tmp_path / "prog.trace"
    done = powercut("record", "--workload", "command", "--keep-backing", str(backing),
                    "-o", str(path), "--", sys.executable, str(tmp_path / "prog.py"), "{mnt}")
    assert done.returncode == 0, done.stderr
    command = f"{sys.executable} {tmp_path / 'check.py'} {{dir}} {{markers}}"

    # Each model alone, as `powercut explore --no-cache` runs it.
    alone: dict[str, dict[str, tuple[str, str]]] = {}
    alone_causes: dict[str, list[str]] = {}
    for model in MODELS:
        report = tmp_path / f"{model}.json"
        done = powercut("explore", str(path), "--model", model, "--check-cmd", command,
                        "--workers", "2", "--no-cache", "--json", str(report))
        assert done.returncode in (0, 1), done.stdout + done.stderr
        doc = json.loads(report.read_text())
        alone[model] = {s["key"]: (s["verdict"], s["signature"]) for s in doc["states"]}
        alone_causes[model] = [c["id"] for c in doc["causes"]]

    # The three in one run, sharing a memo; each its own journal, no cache.
    trace, memo = open_trace(path), Memo()
    explorations: list[Exploration] = []
    try:
        with CommandChecker(command) as checker:
            for model in MODELS:
                earlier = set(memo)  # every state the models before judged
                before = runs.read_text().count("run\n") if runs.exists() else 0
                e = explore(trace, checker, model, workers=2, memo=memo)
                explorations.append(e)
                ran = runs.read_text().count("run\n") - before
                assert not e.interrupted and e.book.verdicts["error"] == 0
                distinct = set(verdicts(e))
                mine = {k for k in memo if memo.where(k) is e.book.journal}
                # Its checks, run for real, are the states no earlier model judged.
                assert ran == len(mine) == e.checked + e.analysis.checks
                assert mine.isdisjoint(earlier)
                assert e.checked == len(distinct - earlier)
                assert e.shared >= len(distinct & earlier)
                assert e.reused == e.shared
                assert verdicts(e) == alone[model]
                assert [c.id for c in e.causes] == alone_causes[model]
        _, ext4, alice = explorations
        assert ext4.shared > 0 and alice.shared > 0 and alice.checked > 0
        assert alice.checked < alice.distinct  # the memo spared checks
    finally:
        for e in explorations:
            e.close()
    # A closed exploration's journal answers nothing: its states would be checked again.
    assert len(memo) > 0 and all(memo.get(k) is None for k in memo)
