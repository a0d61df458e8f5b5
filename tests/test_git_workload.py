"""git recorded for real: commits acknowledged by markers, judged by `git fsck` and `git log`.

git's default `core.fsync` fsyncs pack files, not loose objects, refs or the
index: a commit makes no fsync at all, so a power cut after it is
acknowledged can leave an empty loose object (`git fsck`: "object file …
is empty"), an empty ref or an empty index. powercut must say so with no
hint, in a few root causes, and must find nothing once `core.fsync=all`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

WORKLOAD = r'''
set -e
mnt="$1"; shift
export HOME="$mnt" GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t \
       GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
cd "$mnt"
[ -d repo ] || git init -q repo
cd repo
for n in 1 2 3; do
  seq 1 $((n * 300)) > "f$n.txt"
  git "$@" add "f$n.txt"
  git "$@" commit -q -m "commit-$n"
  echo "{\"commit\": \"commit-$n\", \"text\": \"commit-$n acknowledged\"}" \
    >> "$mnt/.powercut/marker"
done
'''

CHECKER = r'''
import json, os, subprocess, sys
state, markers = sys.argv[1], sys.argv[2]
acked = [json.loads(line)["commit"] for line in open(markers) if '"commit"' in line]
if not acked:
    sys.exit(0)  # nothing was promised yet
repo = os.path.join(state, "repo")
env = {"PATH": "/usr/bin:/bin", "HOME": state, "GIT_CONFIG_NOSYSTEM": "1"}
fsck = subprocess.run(["git", "-C", repo, "fsck", "--full"], capture_output=True, text=True,
                      env=env)
if fsck.returncode != 0:
    print(fsck.stdout + fsck.stderr)
    sys.exit(1)
log = subprocess.run(["git", "-C", repo, "log", "--format=%s"], capture_output=True,
                     text=True, env=env)
missing = [c for c in acked if c not in log.stdout.split()]
if missing:
    print(json.dumps({"verdict": "data-loss", "missing": missing}))
    sys.exit(1)
'''


def powercut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "powercut", *args], capture_output=True,
                          text=True, timeout=1200, env={**os.environ, "CI": "true"})


def record(tmp_path: Path, *git_options: str, initialised: bool = False) -> Path:
    (tmp_path / "work.sh").write_text(WORKLOAD)
    (tmp_path / "check.py").write_text(CHECKER)
    backing = tmp_path / "backing"
    backing.mkdir()
    if initialised:  # the repository exists before recording: its files are durable
        subprocess.run(["git", "init", "-q", str(backing / "repo")], check=True,
                       env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                            "GIT_CONFIG_NOSYSTEM": "1"})
    trace = tmp_path / "git.trace"
    done = powercut("record", "--workload", "command", "--keep-backing", str(backing), "-o",
                    str(trace), "--", "/bin/sh", str(tmp_path / "work.sh"), "{mnt}",
                    *git_options)
    assert done.returncode == 0, done.stderr
    return trace


def explore(tmp_path: Path, trace: Path, *options: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    done = powercut("explore", str(trace), "--no-cache", "--json", str(report), "--check-cmd",
                    f"{sys.executable} {tmp_path / 'check.py'} {{dir}} {{markers}}", *options)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr
    return done.returncode, json.loads(report.read_text())


def objects_cause(doc: dict) -> dict:
    found = [c for c in doc["causes"] if ".git/objects/<xx>/<hash>" in " ".join(c["roles"])]
    assert found, [(c["kind"], c["roles"], c["barrier"]) for c in doc["causes"]]
    return found[0]


@pytest.mark.fuse
def test_git_defaults_lose_loose_objects(tmp_path: Path) -> None:
    trace = record(tmp_path)
    status, doc = explore(tmp_path, trace, "--budget", "300")
    assert status == 1
    cause = objects_cause(doc)
    assert cause["kind"] in ("lost-data", "ordering")
    # git says it one way or another: "object file … is empty", "loose object … is corrupt".
    assert any(re.search(r"object.*(empty|corrupt|missing)", s["signature"])
               for s in cause["signatures"]), cause["signatures"]
    assert cause["barrier"].startswith("fsync repo/.git/objects/<xx>/<hash> before")
    # Crash points before the first acknowledgement are judged ok: nothing was promised.
    first_ack = min(s["point"] for s in doc["states"] if s["verdict"] != "ok")
    assert all(s["verdict"] == "ok" for s in doc["states"] if s["point"] < first_ack)


@pytest.mark.fuse
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_git_with_defaults_ends_in_a_few_root_causes(tmp_path: Path) -> None:
    """The whole exploration with every default (budget, strategy), on a repository made
    before recording: at most three causes, each naming loose objects, a ref or the index."""
    trace = record(tmp_path, initialised=True)
    status, doc = explore(tmp_path, trace)
    assert status == 1
    assert 1 <= len(doc["causes"]) <= 3
    for cause in doc["causes"]:
        assert any(part in " ".join(cause["roles"]) for part in
                   (".git/objects/", ".git/refs/", ".git/HEAD", ".git/index")), cause
        assert cause["barrier"].startswith("fsync ")
    objects_cause(doc)


@pytest.mark.fuse
def test_git_with_core_fsync_all_is_clean(tmp_path: Path) -> None:
    trace = record(tmp_path, "-c", "core.fsync=all", initialised=True)
    status, doc = explore(tmp_path, trace, "--budget", "300")
    assert (status, doc["causes"]) == (0, [])
