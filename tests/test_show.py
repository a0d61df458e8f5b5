"""`powercut show` renders both committed traces, filters, and survives a closed pipe."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.realparts import REPO, TRACES

POWERCUT = [sys.executable, "-m", "powercut"]


def show(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POWERCUT, "show", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=60)


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_show_renders_the_db_write(version: str) -> None:
    run = show(str(TRACES / f"etcd-{version}-bootstrap.trace"))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert f"etcd {version}" in out and "complete" in out and "powercut 0.1.0" in out
    rows = [line.split() for line in out.splitlines()]
    assert any(r[2:6] == ["write", "data.etcd/member/snap/db", "0", "16384"]
               for r in rows if len(r) >= 6)
    assert any("fdatasync" in line for line in out.splitlines())
    assert "─" * 20 in out  # barriers are drawn as rule lines


def test_show_filters_by_ops_and_path() -> None:
    run = show(str(TRACES / "etcd-3.5-bootstrap.trace"), "--ops", "5-20", "--path", "*/snap/*")
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if line.strip()[:1].isdigit()]
    seqs = [int(r[0]) for r in rows if r[0].isdigit() and len(r) > 3]
    assert seqs and all(5 <= s <= 20 for s in seqs)
    assert all("snap/" in " ".join(r) for r in rows if r[0].isdigit() and len(r) > 3)
    bad = show(str(TRACES / "etcd-3.5-bootstrap.trace"), "--ops", "9-3")
    assert bad.returncode == 2 and "--ops" in bad.stderr


def test_show_into_a_closed_pipe_is_quiet() -> None:
    run = subprocess.run(
        f"{sys.executable} -m powercut show {TRACES / 'etcd-3.4-bootstrap.trace'} | head -3",
        shell=True, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert len(run.stdout.splitlines()) == 3
    assert "Traceback" not in run.stderr and "BrokenPipe" not in run.stderr


def test_show_missing_file_is_one_line() -> None:
    run = show("/nonexistent.trace")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_show_names_the_mount_root_and_a_directory_fdatasync(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from powercut.explorer.analysis.cause import describe_op
    from powercut.explorer.run.order import summarise
    from powercut.trace import open_trace
    from tests.synthetic import make_trace

    trace = make_trace(tmp_path / "t.trace", [("mkdir", {"path": "d", "mode": 0o755}),
                                              ("fsyncdir", {"path": ""}),
                                              ("fsyncdir", {"path": "d", "datasync": True})])
    run = show(str(trace.path))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert any("fsyncdir" in line and "(mount root)" in line for line in lines)
    assert any("fsyncdir" in line and " d " in line and "fdatasync" in line for line in lines)
    ops = list(open_trace(trace.path).ops())
    assert [describe_op(summarise(op)) for op in ops[1:]] == [
        "fsync of directory (mount root)", "fdatasync of directory d"]


def test_show_cuts_long_marker_text_unless_full(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A 5 KB value is cut in the table, as a write's data is; --full prints it whole."""
    from tests.synthetic import make_trace

    value = "v" * 5000
    trace = make_trace(tmp_path / "t.trace", [
        ("marker", {"text": "put k=" + value + " acknowledged", "key": "k", "value": value})])
    cut = show(str(trace.path))
    assert cut.returncode == 0, cut.stderr
    assert "v" * 61 not in cut.stdout and "… (" in cut.stdout
    assert len(cut.stdout) < 3000
    full = show(str(trace.path), "--full")
    assert full.returncode == 0, full.stderr
    assert full.stdout.count("v") >= 2 * 5000  # the text and the value field, folded
