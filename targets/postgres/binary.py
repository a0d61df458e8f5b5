"""Which PostgreSQL to run: found by its version, never by where it was installed.

A trace header names the server it was recorded with (`postgres_version`,
e.g. "15.18"), never a path. A checker looks among the servers installed
here (Debian's `/usr/lib/postgresql/<major>/bin`, the bin dir `pg_config`
names, a `postgres` on PATH) for that version, else for one of the same
major version: PostgreSQL keeps its on-disk format within a major version,
so any 15.x recovers a 15.x data directory (the checker's identity names
the one it ran). `--pg-bin DIR` overrides the search.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powercut.errors import CheckerError, WorkloadError

DEBIAN_ROOT = Path("/usr/lib/postgresql")
PROGRAMS = ("postgres", "initdb", "pg_controldata")
INSTALL_HINT = "install PostgreSQL (apt postgresql-15) or pass --pg-bin DIR"


def _usable(bindir: Path) -> bool:
    return all(os.access(bindir / p, os.X_OK) and (bindir / p).is_file() for p in PROGRAMS)


def installed() -> list[Path]:
    """Every PostgreSQL bin directory on this machine, newest major version first."""
    found: list[Path] = []
    if DEBIAN_ROOT.is_dir():
        majors = sorted(DEBIAN_ROOT.iterdir(), key=lambda p: _number(p.name), reverse=True)
        found += [m / "bin" for m in majors]
    if (pg_config := shutil.which("pg_config")) is not None:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out:
            found.append(Path(out))
    if (on_path := shutil.which("postgres")) is not None:
        found.append(Path(on_path).resolve().parent)
    return [d for d in dict.fromkeys(p.resolve() for p in found) if _usable(d)]


def _number(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)) or (0,)


def version(bindir: Path) -> str:
    """What `postgres --version` says, e.g. "15.18" (CheckerError if it is not PostgreSQL)."""
    program = bindir / "postgres"
    try:
        st = os.stat(program)
    except OSError as e:
        raise CheckerError(f"{program}: {e.strerror}") from None
    return _version(str(program), st.st_size, st.st_mtime_ns)


@functools.cache
def _version(program: str, size: int, mtime: int) -> str:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=30,
                             start_new_session=True).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CheckerError(f"cannot run {program} --version: {e}") from None
    m = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*)", out)
    if not m:
        raise CheckerError(f"{program} does not say it is PostgreSQL "
                           f"(--version printed {out[:80]!r})")
    return m.group(1)


def major(text: str) -> str:
    return text.split(".")[0]


def given(path: Path | str) -> Path:
    """A `--pg-bin` directory, checked: it must hold the programs of `PROGRAMS`."""
    bindir = Path(path).resolve()
    if not _usable(bindir):
        raise CheckerError(f"--pg-bin {path} is not a PostgreSQL bin directory "
                           f"(it needs {', '.join(PROGRAMS)})")
    return bindir


def for_recording(override: Path | str | None) -> Path:
    """The bin dir a recording runs: `--pg-bin`, else the newest PostgreSQL installed."""
    try:
        if override is not None:
            return given(override)
        for bindir in installed():
            version(bindir)
            return bindir
    except CheckerError as e:
        raise WorkloadError(str(e)) from None
    raise WorkloadError(f"PostgreSQL is not installed; {INSTALL_HINT}")


def for_trace(workload: Mapping[str, Any], override: Path | str | None) -> Path:
    """The bin dir to judge a trace's states with: `--pg-bin`, else an installed server of the
    recorded version, else of its major version."""
    if override is not None:
        return given(override)
    want = str(workload.get("postgres_version") or "")
    seen: dict[Path, str] = {}
    for bindir in installed():
        try:
            seen[bindir] = version(bindir)
        except CheckerError:
            continue
    for accept in (lambda v: v == want, lambda v: major(v) == major(want)):
        for bindir, found in seen.items():
            if not want or accept(found):
                return bindir
    have = ", ".join(f"{v} in {d}" for d, v in seen.items()) or "none"
    raise CheckerError(f"the trace was recorded with PostgreSQL {want}, and no PostgreSQL "
                       f"{major(want)} is installed (installed: {have}); {INSTALL_HINT}")
