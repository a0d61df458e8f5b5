"""The `git` target: commits in a repository made before recording, judged by `git fsck`.

Workload `git` (`--writes N` commits, each acknowledged by a marker
holding its sha; `--git-config KEY=VALUE`, e.g. `core.fsync=all`, for every
git command); checker `git` (`git fsck --full`, then every acknowledged
commit an ancestor of HEAD). git is found by version and digest (the
kit's `Program`), or given with `--git-bin`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut.errors import PowercutError
from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.targets.base import Option, Target
from powercut.targets.git import repo
from powercut.targets.git.checker import GitChecker
from powercut.targets.git.workload import DEFAULT_WRITES, GitCommits
from powercut.targets.kit import writes_option
from powercut.trace import Trace


class GitTarget(Target):
    name = "git"
    summary = "git 2.39: commits acknowledged once made, judged by git fsck and git log"
    programs = (repo.PROGRAM,)
    processes = ("git",)
    options = (
        Option("--git-bin", "git binary [record: the one installed; explore: an installed "
               "one of the version the trace was recorded with].", ("record", "explore"),
               ("git",), metavar="PATH"),
        writes_option("git"),
        Option("--git-config", "A KEY=VALUE setting for every git command of the git "
               "workload, recorded in the header (core.fsync=all).", ("record",), ("git",),
               metavar="KEY=VALUE"),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        setting = options.get("git_config")
        config: tuple[str, ...] = ()
        if setting is not None:
            if "=" not in setting or setting.startswith("="):
                raise PowercutError(f"--git-config {setting!r}: expected KEY=VALUE")
            config = (setting,)
        writes = options.get("writes")
        return GitCommits.with_binary(options.get("git_bin"), git_config=config,
                                      writes=DEFAULT_WRITES if writes is None else writes)

    def record_options(self, workload: Mapping[str, Any]) -> dict[str, Any]:
        chosen: dict[str, Any] = {}
        if isinstance(workload.get("writes"), int):
            chosen["writes"] = workload["writes"]
        config = workload.get("git_config")
        if isinstance(config, list) and len(config) == 1:
            chosen["git_config"] = config[0]
        return chosen

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        found = repo.PROGRAM.matching(trace.workload, options.get("git_bin"))
        return GitChecker(found, trace.workload, timeout=timeout)


TARGET = GitTarget()
