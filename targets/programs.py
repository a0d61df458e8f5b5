"""Which installed program to run: found by name and version (and digest), never by a recorded path.

A trace header names the program it was recorded with by version and
sha256 (`header()`), not by where it lay on the recording machine. A
checker looks for it by name where Debian and PATH put it and takes one of
that version, preferring the same digest (a rebuilt package of the same
version is still that version); `--NAME-bin PATH` overrides the search.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut.errors import CheckerError, WorkloadError


@dataclass(frozen=True)
class Program:
    """An installed program powercut runs: how to find it and ask its version."""

    name: str  # the executable's name, e.g. "redis-server"
    key: str  # the header's prefix: `<key>_version`, `<key>_sha256`
    pattern: str  # a regex over `<name> --version`; group 1 is the version
    install: str  # how to get it, for the one-line error

    @property
    def option(self) -> str:
        return f"--{self.key}-bin"

    def candidates(self) -> list[Path]:
        """Every executable of this name on PATH or in /usr/bin, without duplicates.

        Symlinks are kept as they are: redis-server is a link to redis-check-rdb,
        which acts by the name it is called with.
        """
        found: dict[Path, Path] = {}
        for candidate in (shutil.which(self.name), f"/usr/bin/{self.name}"):
            if candidate is None:
                continue
            path = Path(os.path.abspath(candidate))
            if path.is_file() and os.access(path, os.X_OK):
                found.setdefault(path.resolve(), path)
        return list(found.values())

    def version(self, binary: Path) -> str:
        """What `binary --version` says its version is (CheckerError if it does not)."""
        st = os.stat(binary)
        out = _version_output(str(binary), st.st_size, st.st_mtime_ns)
        m = re.search(self.pattern, out)
        if not m:
            raise CheckerError(f"{binary} does not say it is {self.name} "
                               f"(--version printed {out[:80]!r})")
        return m.group(1)

    def header(self, binary: Path) -> dict[str, Any]:
        """What a trace header records of `binary`: its version and digest."""
        return {f"{self.key}_version": self.version(binary),
                f"{self.key}_sha256": sha256(binary)}

    def for_recording(self, override: str | Path | None) -> Path:
        """The program a recording runs: the override, else the one installed."""
        try:
            if override is not None:
                return self._executable(Path(os.path.abspath(override)))
            found = self.candidates()
            if not found:
                raise CheckerError(f"{self.name} is not installed ({self.install}); "
                                   f"pass {self.option} PATH")
            return found[0]
        except CheckerError as e:
            raise WorkloadError(str(e)) from None

    def matching(self, workload: Mapping[str, Any], override: str | Path | None) -> Path:
        """The program that judges a trace's states: the override, else an installed one of
        the recorded version (the recorded digest preferred)."""
        if override is not None:
            return self._executable(Path(override))
        want = workload.get(f"{self.key}_version")
        digest = workload.get(f"{self.key}_sha256")
        seen, same_version = [], []
        for binary in self.candidates():
            try:
                found = self.version(binary)
            except CheckerError:
                continue
            seen.append(f"{binary} ({found})")
            if not isinstance(want, str) or found == want:
                if sha256(binary) == digest:
                    return binary
                same_version.append(binary)
        if same_version:
            return same_version[0]
        have = "; installed: " + ", ".join(seen) if seen else f"; {self.name} is not installed"
        raise CheckerError(f"the trace was recorded with {self.name} {want}, which is not on "
                           f"this machine{have} ({self.install}); pass {self.option} PATH")

    def _executable(self, binary: Path) -> Path:
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise CheckerError(f"{self.option} {binary} is not an executable file")
        return binary


@functools.cache
def _version_output(binary: str, size: int, mtime: int) -> str:
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=30, start_new_session=True
                              ).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CheckerError(f"cannot run {binary} --version: {e}") from None


def sha256(binary: Path) -> str:
    st = os.stat(binary)
    return _sha256(str(binary), st.st_size, st.st_mtime_ns)


@functools.cache
def _sha256(binary: str, size: int, mtime: int) -> str:
    with open(binary, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
