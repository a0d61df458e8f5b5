"""Workload `git`: commits in a repository made before recording, each acknowledged by a marker.

`prepare` runs `git init --template=` in `repo/` of the backing directory
before the mount, so the empty repository is the trace's initial tree (its
files durable in every crash state). Then `writes` commits through the
kit's acknowledged-write loop: each rewrites one of eight files and
`counter.txt` (the index stays small), `git add -A`, `git commit`, `git
rev-parse HEAD`, between the intent marker `{"key": "commit-NNNN"}` and the
acknowledgement `{"key": "commit-NNNN", "value": <sha>}` once the commit is
in hand. `git_config` settings (`core.fsync=all`) go to every command.

The header records the git version and digest, `writes`, `git_config`
and the repository's directory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from powercut.errors import WorkloadError
from powercut.recorder.workload import Markers, WorkloadResult
from powercut.targets.git import repo as git
from powercut.targets.kit import Write, send_acknowledged

DEFAULT_WRITES = 10
FILES = 8


@dataclass(frozen=True)
class GitCommits:
    """`writes` commits in `repo/`, made by the installed git."""

    binary: Path
    writes: int = DEFAULT_WRITES
    git_config: tuple[str, ...] = ()
    name: str = "git"

    @classmethod
    def with_binary(cls, git_bin: str | Path | None, **fields: Any) -> Self:
        return cls(git.PROGRAM.for_recording(git_bin), **fields)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, **git.PROGRAM.header(self.binary), "repo": git.REPO_DIR,
                "writes": self.writes, "git_config": list(self.git_config)}

    def prepare(self, backing: Path) -> None:
        """An empty repository in `backing/repo`, unless one is there (`--keep-backing`)."""
        if (backing / git.REPO_DIR / ".git").is_dir():
            return
        with tempfile.TemporaryDirectory(prefix="powercut-git-") as tmp:
            done = git.run(self.binary, ["init", "-q", "--template=", git.REPO_DIR],
                           cwd=backing, home=Path(tmp), log=Path(tmp) / "init.log",
                           deadline=time.monotonic() + 60, config=self.git_config)
        if not done.ok:
            raise WorkloadError(f"git init failed: {done.output.strip()[-300:]}")

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        deadline = time.monotonic() + timeout
        home = workdir / "home"
        home.mkdir()
        tree = mnt / git.REPO_DIR
        commits = [Write(f"commit-{i:04d}", None, text=f"commit {i}")
                   for i in range(self.writes)]

        def commit(w: Write) -> Write:
            i = int(w.key.rsplit("-", 1)[1])
            (tree / f"file-{i % FILES}.txt").write_text(f"content {i}\n")
            (tree / "counter.txt").write_text(f"{i}\n")
            sha = self._commit(tree, home, workdir / f"git-{i}.log", deadline, i)
            return Write(w.key, sha, text=f"commit {i} {sha[:12]}")

        try:
            with Markers(mnt) as markers:
                failed = send_acknowledged(markers.write, commits, commit, deadline=deadline,
                                           errors=(GitFailed,))
        finally:
            shutil.rmtree(home, ignore_errors=True)
        if failed is not None:  # a git command that failed has exited: the program's reaction
            return WorkloadResult(False, failed, exited=True)
        return WorkloadResult(True, f"git made {self.writes} commits" + (
            f" with {' '.join(self.git_config)}" if self.git_config else ""))

    def _commit(self, tree: Path, home: Path, log: Path, deadline: float, i: int) -> str:
        """The new commit's sha (GitFailed when a command failed or ran out of time)."""
        steps: Sequence[Sequence[str]] = (("add", "-A"), ("commit", "-q", "-m", f"commit {i}"),
                                          ("rev-parse", "HEAD"))
        done = None
        for args in steps:
            done = git.run(self.binary, args, cwd=tree, home=home, log=log, deadline=deadline,
                           config=self.git_config, i=i)
            if not done.ok:
                why = "timed out" if done.exit is None else done.exit.describe
                raise GitFailed(f"git {args[0]} {why}: {done.output.strip()[-300:]}")
        assert done is not None
        return done.output.strip().splitlines()[-1]


class GitFailed(Exception):
    """A git command of a commit failed or ran out of time."""
