"""The `command` checker: any program that judges a crash state by its exit status.

`--check-cmd 'CMD ... {dir}'` is split like a shell would (no shell runs
it); `{dir}` becomes the state directory and `{markers}` a file with the
markers recorded before the crash point, one JSON object a line, so a
checker written for ALICE (`checker <crashed_dir> <stdout_file>`) runs
unchanged. Exit 0 is ok, any other exit or a signal is unrecoverable, no
exit within the timeout is a hang. A failing command that prints a JSON line
`{"verdict": "data-loss", "missing": [...]}` reports lost acknowledged
writes instead (verdict `data-loss`, see `durability`). It must never run the command through a
shell or leave any of its processes behind.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from powercut.errors import CheckerError
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
    write_markers,
)
from powercut.explorer.verdict import Evidence, Verdict
from powercut.process import Child, log_text
from powercut.trace import Op


def parse_check_cmd(command: str) -> list[str]:
    """The command's words, or a CheckerError saying what is wrong with it."""
    try:
        words = shlex.split(command)
    except ValueError as e:
        raise CheckerError(f"--check-cmd {command!r} cannot be split into words: {e}") from None
    if not words:
        raise CheckerError("--check-cmd is empty; give a command with {dir} in it")
    if not any("{dir}" in w for w in words):
        raise CheckerError(
            f"--check-cmd {command!r} has no {{dir}}; put {{dir}} where the crash state goes")
    return words


_PLACEHOLDERS = ("{dir}", "{markers}")


def named_files(words: Sequence[str]) -> list[str]:
    """Every existing file the command names, as absolute paths, in a stable order.

    The program (found through PATH); any word, or any token of a word run
    by a shell (`sh -c 'python3 helper.py "$1"'`, whose first token is found
    through PATH too), or the value of a `--opt=FILE` token, that names a
    file; and the source of a `-m MODULE` found in the working directory or
    on PYTHONPATH. Tokens with a placeholder are the state, not the checker.
    """
    found: dict[str, None] = {}

    def add(name: str | None) -> None:
        if name and os.path.isfile(name):
            found.setdefault(os.path.abspath(name), None)

    add(shutil.which(words[0]) if os.sep not in words[0] else words[0])
    for word in words[1:]:
        tokens = _tokens(word)
        if len(tokens) > 1 and not any(p in tokens[0] for p in _PLACEHOLDERS):
            add(shutil.which(tokens[0]) if os.sep not in tokens[0] else None)
        for token in {word, *tokens}:
            if any(p in token for p in _PLACEHOLDERS):
                continue
            add(token)
            if token.startswith("-") and "=" in token:
                add(token.split("=", 1)[1])
    all_tokens = [t for w in words for t in _tokens(w)]
    for flag, module in itertools.pairwise(all_tokens):
        if flag == "-m":
            add(_module_source(module))
    return list(found)


def _tokens(word: str) -> list[str]:
    try:
        return shlex.split(word)
    except ValueError:
        return word.split()


def _module_source(module: str) -> str | None:
    """The file `python -m module` would run from the working directory or PYTHONPATH."""
    if not all(part.isidentifier() for part in module.split(".")):
        return None
    base = module.replace(".", os.sep)
    roots = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    for root in roots:
        for candidate in (f"{base}.py", os.path.join(base, "__main__.py")):
            if os.path.isfile(os.path.join(root, candidate)):
                return os.path.join(root, candidate)
    return None


class CommandChecker(Checker):
    """Runs a user's command on each state; its exit status is the verdict."""

    name = "command"

    def __init__(self, command: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.command = command
        self.uses_markers = "{markers}" in command
        self.words = parse_check_cmd(command)
        self.timeout = timeout
        # Read once: a file the command names and the checker writes (a log, a
        # counter) must not change the identity in the middle of an exploration;
        # the next exploration sees its new content and judges afresh.
        self._files = tuple((path, file_fingerprint(path)) for path in named_files(self.words))

    def describe(self) -> str:
        return f"command: {self.command}"

    def identity(self) -> str:
        # The whole command line, and the content of every file it names (taken
        # once, when the checker was made: see `named_files`).
        prints = " ".join(f"{path}={digest}" for path, digest in self._files)
        return f"{self.describe()} files=[{prints}] timeout={self.timeout:g}"

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        with scratch_dir(scratch) as work:
            markers_file = work / "markers.jsonl"
            argv = [w.replace("{dir}", str(directory)) for w in self.words]
            if any("{markers}" in w for w in argv):
                write_markers(markers, markers_file)
                argv = [w.replace("{markers}", str(markers_file)) for w in argv]
            try:
                child = Child(argv, work / "check.log")
            except OSError as e:
                raise CheckerError(f"cannot run --check-cmd {argv[0]!r}: {e.strerror}") from None
            with child:
                exit = child.wait(self.limit())
                if exit is None:
                    child.kill(grace=0)  # a hung program gets no graceful exit
                    return failure_verdict("hang", child, None)
                evidence = Evidence(argv=tuple(argv))
                if exit.status == 0:
                    return Verdict("ok", exit_status=0, duration=child.elapsed,
                                   evidence=evidence)
                lost = durability.reported_loss(log_text(child.log))
                if lost is not None:
                    return durability.data_loss(lost, child.elapsed, evidence)
                return failure_verdict("unrecoverable", child, exit)
