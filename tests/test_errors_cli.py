"""Every user-facing failure is one line naming the cause and the fix, with exit status 2.

A table of bad inputs across the subcommands: each must exit 2 with exactly
one line on stderr, starting `powercut: error:`, never a traceback, and
(with --debug) the traceback is there for the asking.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from powercut.cli import main
from powercut.trace import TraceWriter
from tests.test_trace_fuzz import HEADER, _signed


def good_trace(tmp: Path) -> Path:
    path = tmp / "good.trace"
    with TraceWriter(path, argv=["t"], workload={"name": "command"}) as w:
        w.append("create", 1, path="f", mode=0o644)
        w.append("write", 1, path="f", offset=0, data=b"x" * 5000)
    return path


def cut_trace(tmp: Path) -> Path:
    data = good_trace(tmp).read_bytes()
    path = tmp / "cut.trace"
    path.write_bytes(data[: len(data) - 30])
    return path


def hostile_trace(tmp: Path) -> Path:
    path = tmp / "hostile.trace"
    path.write_bytes(_signed([HEADER, {"seq": 0, "t_ns": 0, "pid": 1, "op": "create",
                                       "path": "../../etc/evil", "mode": 0o644}]))
    return path


def hostile_initial(tmp: Path) -> Path:
    path = tmp / "hostile-initial.trace"
    header = {**HEADER, "initial": [{"path": "/etc/passwd", "kind": "file", "mode": 0o644,
                                     "data": b"x"}]}
    path.write_bytes(_signed([header]))
    return path


def not_executable(tmp: Path) -> Path:
    path = tmp / "etcd"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o644)
    return path


def non_empty(tmp: Path) -> Path:
    (tmp / "full").mkdir()
    (tmp / "full" / "x").write_text("x")
    return tmp / "full"


def not_a_journal(tmp: Path) -> Path:
    path = tmp / "notes.journal"
    path.write_bytes(msgpack.packb({"something": "else"}) + b"important")
    return path


def garbage(tmp: Path) -> Path:
    path = tmp / "garbage.trace"
    path.write_bytes(os.urandom(300))
    return path


P = Callable[[Path], object]
CMD = "--check-cmd=true {dir}"
# (name, argv builder, a word the line must contain)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("missing trace", lambda t: ["explore", str(t / "nope.trace"), CMD], "No such file"),
    ("directory as trace", lambda t: ["explore", str(t), CMD], "directory"),
    ("directory to show", lambda t: ["show", str(t)], "directory"),
    ("garbage trace", lambda t: ["show", str(garbage(t))], "not a powercut trace"),
    ("bad --points", lambda t: ["explore", str(good_trace(t)), CMD, "--points", "x-y"],
     "--points"),
    ("reversed --points", lambda t: ["explore", str(good_trace(t)), CMD, "--points", "5-1"],
     "comes before"),
    ("--check-cmd without {dir}", lambda t: ["explore", str(good_trace(t)), "--check-cmd",
                                             "true"], "{dir}"),
    ("--checker command without --check-cmd",
     lambda t: ["explore", str(good_trace(t)), "--checker", "command"], "--check-cmd"),
    ("unknown checker", lambda t: ["explore", str(good_trace(t)), "--checker", "zfs"],
     "--checker"),
    ("unknown model", lambda t: ["explore", str(good_trace(t)), CMD, "--model", "ext9"],
     "--model"),
    ("--etcd-bin not executable",
     lambda t: ["explore", str(good_trace(t)), "--checker", "etcd", "--etcd-bin",
                str(not_executable(t))], "etcd"),
    ("--etcd-bin missing", lambda t: ["record", "-o", str(t / "x.trace"), "--etcd-bin",
                                      str(t / "no-etcd")], "etcd"),
    ("replay --to not empty", lambda t: ["replay", str(good_trace(t)), "--point", "1",
                                         "--to", str(non_empty(t))], "not empty"),
    ("replay bad --point", lambda t: ["replay", str(good_trace(t)), "--point", "99",
                                      "--to", str(t / "out")], "99"),
    ("cut trace", lambda t: ["explore", str(cut_trace(t)), CMD], "--prefix"),
    ("cut trace shown", lambda t: ["show", str(cut_trace(t))], "--prefix"),
    ("hostile op path", lambda t: ["explore", str(hostile_trace(t)), CMD], ".."),
    ("hostile initial path", lambda t: ["replay", str(hostile_initial(t)), "--point", "-1",
                                        "--to", str(t / "out")], "relative"),
    ("--json in a missing dir", lambda t: ["explore", str(good_trace(t)), CMD, "--json",
                                           str(t / "no" / "r.json")], "does not exist"),
    ("--resume without a journal", lambda t: ["explore", str(good_trace(t)), CMD,
                                              "--resume"], "--resume"),
    ("--journal not a journal", lambda t: ["explore", str(good_trace(t)), CMD, "--journal",
                                           str(not_a_journal(t))], "not a powercut journal"),
    ("--journal over the trace", lambda t: ["explore", str(good_trace(t)), CMD, "--journal",
                                            str(t / "good.trace")], "--journal"),
    ("record command without {mnt}", lambda t: ["record", "-o", str(t / "x.trace"), "--",
                                                "true"], "{mnt}"),
    ("record into a missing dir", lambda t: ["record", "-o", str(t / "no" / "x.trace"), "--",
                                             "true", "{mnt}"], "not a directory"),
    ("record on a missing mountpoint", lambda t: ["record", "--mountpoint", str(t / "m"), "-o",
                                                  str(t / "x.trace"), "--", "true", "{mnt}"],
     "does not exist"),
    ("umount what is not mounted", lambda t: ["umount", str(t)], "not a mount point"),
    ("unknown command", lambda t: ["explode", str(t)], "No such command"),
    ("bad --workers", lambda t: ["explore", str(good_trace(t)), CMD, "--workers", "0"],
     "--workers"),
    ("bad --timeout", lambda t: ["explore", str(good_trace(t)), CMD, "--timeout", "soon"],
     "--timeout"),
]


@pytest.mark.parametrize(("name", "argv", "word"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(name: str, argv: Callable[[Path], list[str]],
                                          word: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    before = set(os.listdir(tmp_path))
    args = argv(tmp_path)
    made = set(os.listdir(tmp_path)) - before
    status = main(args)
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert status == 2, out.err
    assert len(lines) == 1, out.err
    assert lines[0].startswith("powercut: error: ")
    assert word in lines[0]
    assert "Traceback" not in out.err + out.out
    # A refused command writes nothing (no trace, journal or report appears).
    assert set(os.listdir(tmp_path)) - before == made


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from powercut.errors import TraceError

    with pytest.raises(TraceError):
        main(["--debug", "show", str(garbage(tmp_path))])


def test_cli_as_a_process_is_one_line(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "powercut", "explore", str(cut_trace(tmp_path)),
                           CMD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
