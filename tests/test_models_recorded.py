"""The models on real recordings: what each one says of two classic mistakes, and of the fix.

A small program runs on the recording mount, in a directory that exists
before recording (so its own entry is durable), and acknowledges with a
marker. A checker reads the markers and says `data-loss` when an
acknowledged file is not there whole. Explored under the three models at
once (`--model lazyfs,ext4-ordered,alice`):

- create and fsync a file, acknowledge, never fsync the directory: clean
  under lazyfs and ext4-ordered (the fsync commits the journal), the file
  lost under alice (only a directory fsync makes its entry durable);
- write a temp file, fsync it, rename it over the config, acknowledge,
  never fsync the directory: clean under lazyfs, the new config lost under
  ext4-ordered and alice;
- the same with the directory fsynced before the acknowledgement: clean
  under all three.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = r'''
import json, os, sys
mnt, how = sys.argv[1], sys.argv[2]
data = os.path.join(mnt, "data")
def ack(key, value):
    with open(os.path.join(mnt, ".powercut", "marker"), "a") as m:
        m.write(json.dumps({"text": f"{key}={value} acknowledged", "key": key,
                            "value": value}) + "\n")
def write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, text.encode())
    os.fsync(fd)
    os.close(fd)
if how == "create":
    write(os.path.join(data, "new"), "v1")
    ack("new", "v1")
else:
    write(os.path.join(data, "cfg.tmp"), "v2")
    os.rename(os.path.join(data, "cfg.tmp"), os.path.join(data, "cfg"))
    if how == "replace-synced":
        fd = os.open(data, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
    ack("cfg", "v2")
'''

CHECKER = r'''
import json, os, sys
state, markers = sys.argv[1], sys.argv[2]
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


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("TMPDIR", "POWERCUT_CACHE_DIR",
                                                         "HOME")}


def explore_models(tmp_path: Path, how: str) -> dict[str, list[dict]]:
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "check.py").write_text(CHECKER)
    backing = tmp_path / "backing"
    (backing / "data").mkdir(parents=True)
    (backing / "data" / "cfg").write_text("v1")
    trace = tmp_path / f"{how}.trace"
    done = powercut("record", "--workload", "command", "--keep-backing", str(backing),
                    "-o", str(trace), "--", sys.executable, str(tmp_path / "prog.py"),
                    "{mnt}", how)
    assert done.returncode == 0, done.stderr
    report = tmp_path / f"{how}.json"
    done = powercut("explore", str(trace), "--model", "lazyfs,ext4-ordered,alice",
                    "--check-cmd", f"{sys.executable} {tmp_path / 'check.py'} {{dir}} "
                    "{markers}", "--workers", "2", "--no-cache", "--json", str(report))
    assert done.returncode in (0, 1), done.stdout + done.stderr
    doc = json.loads(report.read_text())
    assert doc["models"] == ["lazyfs", "ext4-ordered", "alice"]
    by_model = {e["model"]: e["causes"] for e in doc["explorations"]}
    assert done.returncode == (1 if any(by_model.values()) else 0)
    return by_model


@pytest.mark.fuse
def test_fsynced_new_file_without_directory_fsync(tmp_path: Path) -> None:
    causes = explore_models(tmp_path, "create")
    assert causes["lazyfs"] == [] and causes["ext4-ordered"] == []
    [lost] = causes["alice"]
    assert (lost["kind"], lost["verdict"], lost["missing"]) == (
        "lost-namespace", "data-loss", ["new"])
    assert lost["after"]["op"] == "marker"
    assert lost["barrier"].startswith("fsync the directory data after create data/new and "
                                      "before acknowledging")


@pytest.mark.fuse
def test_rename_over_config_without_directory_fsync(tmp_path: Path) -> None:
    causes = explore_models(tmp_path, "replace")
    assert causes["lazyfs"] == []
    for model in ("ext4-ordered", "alice"):
        assert causes[model], model
        assert {c["verdict"] for c in causes[model]} == {"data-loss"}
        assert all(c["missing"] == ["cfg"] for c in causes[model])
        assert all(c["kind"] == "lost-namespace" for c in causes[model]), causes[model]
        assert all(c["roles"] == ["data/cfg"] for c in causes[model]), causes[model]


@pytest.mark.fuse
def test_directory_fsync_before_the_acknowledgement_is_clean_everywhere(
        tmp_path: Path) -> None:
    causes = explore_models(tmp_path, "replace-synced")
    assert causes == {"lazyfs": [], "ext4-ordered": [], "alice": []}
