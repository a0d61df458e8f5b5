"""Which installed program a target runs: found by what it is (version and digest), never by where.

A trace header names the program it was recorded with by version and
sha256 (`Program.header`), not by where it lay on the recording machine. A
checker looks for it where the target says it may be installed
(`places`, then PATH) and takes one of that version; what it does when
only the version matches is the program's declared `policy`:

- `"digest"`: refuse it; the recorded digest is the program (etcd: two
  builds of one version may recover differently);
- `"version"`: take it, preferring one with the recorded digest (a rebuilt
  package of the same version is still that version);
- `"major"`: as `"version"`, and when no such version is installed, take
  one of the same major version (PostgreSQL keeps its on-disk format
  within a major version).

`--KEY-bin FILE` (or the target's own option) overrides the search. A
digest is the file's content identity (`file_fingerprint`: cached by inode,
size, mtime and ctime, never by size and mtime alone), and the version a
program prints is cached under the same identity.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from powercut.errors import CheckerError, WorkloadError
from powercut.explorer.checkers.base import file_fingerprint

Policy = Literal["digest", "version", "major"]


@dataclass(frozen=True)
class Program:
    """An installed program a target runs: where to look, how to ask its version, what to accept.

    `places` are paths or glob patterns, searched in order before PATH (a
    glob's matches newest version first); `extra_places` adds paths found
    at run time (a Python package's binary). `read_version` replaces
    running `FILE VERSION_ARGS` for a file that is not run (a jar).
    `companions` must lie beside it (PostgreSQL's `initdb`).
    """

    name: str  # the file's name, e.g. "redis-server"
    key: str  # the header's prefix: `<key>_version`, `<key>_sha256`
    pattern: str  # a regex over what the version command prints; group 1 is the version
    install: str  # how to get it, for the one-line error
    policy: Policy = "version"
    places: tuple[str, ...] = ()
    extra_places: Callable[[], Iterable[Path | None]] = field(default=lambda: (), repr=False)
    version_args: tuple[str, ...] = ("--version",)
    read_version: Callable[[Path], str] | None = field(default=None, repr=False)
    companions: tuple[str, ...] = ()
    executable: bool = True
    on_path: bool = True
    flag: str = ""  # the command-line option that names it [default: --KEY-bin]

    @property
    def option(self) -> str:
        return self.flag or f"--{self.key}-bin"

    def candidates(self) -> list[Path]:
        """Every installed file of this program, in the order of `places`, without duplicates.

        A link is kept as it is (redis-server is a link to redis-check-rdb,
        which acts by the name it is called with).
        """
        found: dict[Path, Path] = {}
        names: list[Path | str | None] = list(self.extra_places())
        for place in self.places:
            matches = sorted(glob.glob(place), key=_number, reverse=True) if glob.has_magic(
                place) else [place]
            names += matches
        if self.on_path:
            names += [shutil.which(self.name)]
        for name in names:
            if name is None:
                continue
            path = Path(os.path.abspath(name))
            if self._usable(path):
                found.setdefault(path.resolve(), path)
        return list(found.values())

    def problem(self) -> str | None:
        """Why this program cannot run here (for the tests' and the user's one-line error)."""
        if not self.candidates():
            return f"{self.name} is not installed ({self.install})"
        return None

    def version(self, path: Path) -> str:
        """The version `path` says it is (CheckerError if it does not say it is this program)."""
        if self.read_version is not None:
            return self.read_version(path)
        out = _version_output(str(path), self.version_args, _identity(path))
        m = re.search(self.pattern, out)
        if not m:
            raise CheckerError(f"{path} does not say it is {self.name} "
                               f"({' '.join(self.version_args)} printed {out[:80]!r})")
        return m.group(1)

    def digest(self, path: Path) -> str:
        """The sha256 of `path` (hex), by its content identity."""
        found = file_fingerprint(path)
        if not found.startswith("sha256:"):
            raise CheckerError(f"{path}: {found}")
        return found.removeprefix("sha256:")

    def header(self, path: Path) -> dict[str, Any]:
        """What a trace header records of `path`: its version and digest."""
        return {f"{self.key}_version": self.version(path), f"{self.key}_sha256": self.digest(path)}

    def given(self, path: str | Path) -> Path:
        """An option's file, checked (CheckerError when it is not this program)."""
        chosen = Path(os.path.abspath(path))
        if not self._usable(chosen):
            what = "an executable file" if self.executable else "a file"
            beside = f" with {', '.join(self.companions)} beside it" if self.companions else ""
            raise CheckerError(f"{self.option} {path} is not {what}{beside}")
        return chosen

    def for_recording(self, override: str | Path | None) -> Path:
        """What a recording runs: the option's file, else the first one installed."""
        try:
            if override is not None:
                return self.given(override)
            for path in self.candidates():
                self.version(path)
                return path
        except CheckerError as e:
            raise WorkloadError(str(e)) from None
        raise WorkloadError(f"{self.name} is not installed ({self.install}); "
                            f"pass {self.option} PATH")

    def matching(self, workload: Mapping[str, Any], override: str | Path | None) -> Path:
        """What judges a trace's states: the option's file, else an installed one of the
        recorded version, as the policy says (the path the header names first, as a hint)."""
        if override is not None:
            return self.given(override)
        want = workload.get(f"{self.key}_version")
        digest = workload.get(f"{self.key}_sha256")
        hint = workload.get(f"{self.key}_bin")
        candidates = self.candidates()
        if isinstance(hint, str) and self._usable(Path(hint)):
            candidates.insert(0, Path(hint))
        seen: dict[Path, str] = {}
        for path in dict.fromkeys(candidates):
            try:
                seen[path] = self.version(path)
            except CheckerError:
                continue
        if not isinstance(want, str) or not want:
            if seen:
                return next(iter(seen))
            raise CheckerError(f"the trace does not name its {self.name} version and none is "
                               f"installed ({self.install}); pass {self.option} PATH")
        same = [p for p, v in seen.items() if v == want]
        exact = [p for p in same if not isinstance(digest, str) or self.digest(p) == digest]
        if exact:
            return exact[0]
        if same and self.policy != "digest":
            return same[0]
        major = [p for p, v in seen.items() if v.split(".")[0] == want.split(".")[0]]
        if major and self.policy == "major":
            return major[0]
        what = f"{self.name} {want}" + (
            f" with sha256 {digest[:12]}…" if isinstance(digest, str) and same else "")
        have = ", ".join(f"{p} ({v})" for p, v in seen.items()) or "none"
        raise CheckerError(f"the trace was recorded with {what}, which is not on this machine "
                           f"(installed: {have}; {self.install}); pass {self.option} PATH")

    def _usable(self, path: Path) -> bool:
        if not path.is_file() or (self.executable and not os.access(path, os.X_OK)):
            return False
        return all((path.parent / c).is_file() for c in self.companions)


def _number(text: str) -> tuple[int, ...]:
    """The numbers in a path, for newest-first order (`/usr/lib/postgresql/15/...`)."""
    return tuple(int(x) for x in re.findall(r"\d+", text)) or (0,)


def by_content(read: Callable[[Path], str]) -> Callable[[Path], str]:
    """`read(path)` cached by the file's content identity (for a `read_version` that opens a
    large file, a jar)."""
    cached = functools.cache(lambda path, identity: read(Path(path)))
    return lambda path: cached(str(path), _identity(path))


def _identity(path: Path) -> tuple[int, ...]:
    """What changes whenever the file's content may have: inode, size, mtime, ctime."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise CheckerError(f"{path}: {e.strerror}") from None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@functools.cache
def _version_output(path: str, args: tuple[str, ...], identity: tuple[int, ...]) -> str:
    try:
        done = subprocess.run([path, *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60, start_new_session=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CheckerError(f"cannot run {path} {' '.join(args)}: {e}") from None
    return done.stdout + done.stderr
