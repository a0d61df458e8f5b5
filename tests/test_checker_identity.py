"""A checker's identity changes whenever the same state could be judged differently.

Verdicts are stored (results cache, journal) under the state's content key
and the checker's identity, so an edited check script, helper module or
`sh -c` body must never reuse the old verdicts. Edits here keep the file's
size and modification time, so only the content can tell them apart.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from powercut.explorer.checkers import CommandChecker
from powercut.explorer.checkers.base import file_fingerprint


def edit_in_place(path: Path) -> None:
    """Turn `exit(1)` into `exit(2)` or back (same size) and put the modification time back."""
    st = path.stat()
    text = path.read_text()
    old, new = ("exit(1)", "exit(2)") if "exit(1)" in text else ("exit(2)", "exit(1)")
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def identity_before_and_after_edit(command: str, path: Path) -> tuple[str, str]:
    before = CommandChecker(command).identity()
    edit_in_place(path)
    return before, CommandChecker(command).identity()


@pytest.fixture
def helper(tmp_path: Path) -> Path:
    path = tmp_path / "helper.py"
    path.write_text("import sys\nsys.exit(1)\n")
    return path


def test_an_edited_sh_c_body_changes_the_identity() -> None:
    a = CommandChecker("sh -c 'test -d \"$1\"' sh {dir}").identity()
    b = CommandChecker("sh -c 'test -f \"$1\"' sh {dir}").identity()
    assert a != b


def test_an_edited_script_changes_the_identity(helper: Path) -> None:
    before, after = identity_before_and_after_edit(f"{sys.executable} {helper} {{dir}}", helper)
    assert before != after


def test_an_edited_helper_anywhere_in_the_command_changes_the_identity(
        helper: Path, tmp_path: Path) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text("import runpy, sys\nrunpy.run_path(sys.argv[1])\n")
    later = f"{sys.executable} {runner} {helper} {{dir}}"
    before, after = identity_before_and_after_edit(later, helper)
    assert before != after
    inside = f"sh -c '{sys.executable} {helper} \"$1\"' sh {{dir}}"
    before, after = identity_before_and_after_edit(inside, helper)
    assert before != after
    option = f"{sys.executable} {runner} --script={helper} {{dir}}"
    before, after = identity_before_and_after_edit(option, helper)
    assert before != after


def test_an_edited_helper_module_changes_the_identity(
        helper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(helper.parent)  # `python -m helper` finds it in the working directory
    before, after = identity_before_and_after_edit(f"{sys.executable} -m helper {{dir}}", helper)
    assert before != after


def test_the_program_is_found_through_path(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    program = tmp_path / "bin" / "my-check"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\nexit(1)\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{program.parent}{os.pathsep}{os.environ['PATH']}")
    before, after = identity_before_and_after_edit("my-check {dir}", program)
    assert before != after


def test_the_identity_is_taken_once_when_the_checker_is_made(helper: Path,
                                                             tmp_path: Path) -> None:
    """A file named in the command that the checker itself writes (a log, a counter) must
    not split one exploration's verdicts between identities: its content is read once."""
    log = tmp_path / "check.log"
    log.write_text("run 1\n")
    checker = CommandChecker(f"{sys.executable} {helper} {{dir}} {log}")
    first = checker.identity()
    log.write_text("run 1\nrun 2\n")
    assert checker.identity() == first
    assert CommandChecker(checker.command).identity() != first  # the next run sees it


def test_placeholders_and_missing_files_are_not_hashed(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "{dir}").write_text("a file named like the placeholder")
    a = CommandChecker("test -d {dir} {markers}").identity()
    (tmp_path / "{dir}").write_text("another content of the same file")
    assert CommandChecker("test -d {dir} {markers}").identity() == a
    assert "sha256" in a  # the program, `test`, is hashed


def test_file_fingerprint_is_the_content(helper: Path) -> None:
    before = file_fingerprint(helper)
    assert file_fingerprint(helper) == before  # cached, and stable
    edit_in_place(helper)
    assert file_fingerprint(helper) != before
    assert file_fingerprint(helper.parent / "nope") == "missing"
