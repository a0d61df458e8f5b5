"""The `git` checker: `git fsck --full` on the crash state, then every acknowledged commit in HEAD.

git runs in the state's `repo/` with the fixed environment of `repo.py`,
one command at a time, each in its own process group, all within
`limit()` seconds. `git fsck --full` failing is `unrecoverable` (git's first
error line is the signature: "object file ... is empty"); then every
acknowledged commit must be HEAD or an ancestor of it (`git rev-list
HEAD`), else `data-loss`. A state before the first acknowledgement passes
unchecked: nothing was promised yet (git's own mid-commit states are the
workload's business, not a lost commit). A command still running at the
deadline is a `hang`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import DEFAULT_TIMEOUT, Checker, file_fingerprint, scratch_dir
from powercut.explorer.verdict import Evidence, Verdict
from powercut.process import log_tail
from powercut.targets.git import repo as git
from powercut.trace import Op


class GitChecker(Checker):
    """`git fsck --full`, then every acknowledged commit reachable from HEAD."""

    name = "git"
    uses_markers = True

    def __init__(self, binary: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.binary = Path(binary)
        self.version = git.PROGRAM.version(self.binary)
        self.repo = str(workload.get("repo") or git.REPO_DIR)
        self.timeout = timeout

    def describe(self) -> str:
        return f"git ({self.binary} {self.version}: fsck --full, acknowledged commits in HEAD)"

    def identity(self) -> str:
        return (f"{self.describe()} binary={file_fingerprint(self.binary)} repo={self.repo} "
                f"timeout={self.timeout:g}")

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        want = durability.expected(markers)
        if not want:
            return Verdict("ok", evidence=Evidence(notes={"acknowledged": 0}))
        started = time.monotonic()
        deadline = started + self.limit()
        with scratch_dir(scratch) as work:
            home = work / "home"
            home.mkdir(exist_ok=True)

            def git_run(name: str, *args: str) -> git.Result:
                return git.run(self.binary, args, cwd=directory / self.repo, home=home,
                               log=work / f"{name}.log", deadline=deadline)

            fsck = git_run("fsck", "fsck", "--full", "--no-progress", "--no-dangling")
            if not fsck.ok:
                return self._failed(fsck, work / "fsck.log", started, "git fsck --full")
            if not git_run("head", "rev-parse", "-q", "--verify", "HEAD^{commit}").ok:
                reachable: set[str] = set()  # no commit (fsck passed: HEAD is unborn)
            else:
                listed = git_run("rev-list", "rev-list", "HEAD")
                if not listed.ok:
                    return self._failed(listed, work / "rev-list.log", started,
                                        "git rev-list HEAD")
                reachable = set(listed.output.split())
        evidence = Evidence(notes={"reachable_commits": len(reachable)})
        missing = durability.lost(want, lambda key: want.acked[key]
                                  if want.acked[key] in reachable else None)
        duration = time.monotonic() - started
        if missing:
            return durability.data_loss(missing, duration, evidence)
        return Verdict("ok", duration=duration, evidence=evidence)

    def _failed(self, result: git.Result, log: Path, started: float, what: str) -> Verdict:
        duration = time.monotonic() - started
        evidence = Evidence(notes={"command": what})
        if result.exit is None:
            return Verdict("hang", signature="no answer within the timeout", duration=duration,
                           log_tail=log_tail(log), evidence=evidence)
        found = git.cause(result.output)
        signature = found.signature if found else f"{what}: {result.exit.describe}"
        return Verdict("unrecoverable", signature=signature, exit_status=result.exit.status,
                       signal=result.exit.signal, log_tail=log_tail(log),
                       excerpt=found.excerpt if found else "", duration=duration,
                       evidence=evidence)
