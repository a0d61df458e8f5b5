"""How powercut runs git: a fixed environment, deterministic commits, one command at a time.

Every git command runs in its own process group (`Child`), its output in a
log file, with an environment that keeps git inside the repository: an
empty HOME, no system or global config, no pager, editor or prompt, no
automatic gc or maintenance, fixed author, committer and dates (commit i
is the same sha on every machine). `-c KEY=VALUE` settings of the workload
(`core.fsync=all`) come after the fixed ones.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from powercut.explorer.checkers.signature import Cause, normalise
from powercut.process import Child, Exit, log_text
from powercut.targets.kit.program import Program

PROGRAM = Program("git", "git", r"git version (\d[\w.]*)", "apt-get install git",
                  places=("/usr/bin/git",))
REPO_DIR = "repo"
EPOCH = 1700000000
BASE_CONFIG = ("gc.auto=0", "maintenance.auto=false", "commit.gpgsign=false", "core.pager=cat",
               "init.defaultBranch=main", "advice.detachedHead=false")
_PROBLEM = re.compile(r"^(?:error|fatal|missing|broken|bad)\b.*$", re.MULTILINE)


def environment(home: Path, i: int = 0) -> dict[str, str]:
    """git's whole environment (nothing inherited), commit `i`'s dates."""
    date = f"@{EPOCH + i} +0000"
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C", "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_AUTHOR_NAME": "powercut", "GIT_AUTHOR_EMAIL": "powercut@example.invalid",
            "GIT_COMMITTER_NAME": "powercut", "GIT_COMMITTER_EMAIL": "powercut@example.invalid",
            "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "GIT_TERMINAL_PROMPT": "0",
            "GIT_EDITOR": "true", "GIT_PAGER": "cat",
            # Read-only commands must not refresh the index behind the workload's back.
            "GIT_OPTIONAL_LOCKS": "0"}


@dataclass(frozen=True)
class Result:
    """How one git command ended (None: still running at its deadline) and what it printed."""

    exit: Exit | None
    output: str

    @property
    def ok(self) -> bool:
        return self.exit is not None and self.exit.status == 0


def run(binary: Path, args: Sequence[str], *, cwd: Path, home: Path, log: Path,
        deadline: float, config: Sequence[str] = (), i: int = 0) -> Result:
    """`git -c ... ARGS` in `cwd`, killed (with its group) at `deadline` (monotonic)."""
    argv = [str(binary)]
    for setting in (*BASE_CONFIG, *config):
        argv += ["-c", setting]
    with Child([*argv, *args], log, cwd=cwd, env=environment(home, i)) as child:
        exit = child.wait(max(0.0, deadline - time.monotonic()))
    return Result(exit, log_text(log))


def cause(output: str) -> Cause | None:
    """What git says is wrong: its first error or fatal line (`git fsck` names the object)."""
    m = _PROBLEM.search(output)
    if m is None:
        return None
    lines = [x for x in output.splitlines() if x.strip()]
    return Cause(m.group(0), normalise(m.group(0)), "\n".join(lines[:8]))
