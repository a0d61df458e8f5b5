"""Which PostgreSQL to run: found by its version, never by where it was installed.

A trace header names the server it was recorded with (`postgres_version`,
e.g. "15.18", and its digest), never a path. A checker looks among the
servers installed here (Debian's `/usr/lib/postgresql/<major>/bin`, the bin
dir `pg_config` names, a `postgres` on PATH) for that version, else for one
of the same major version (policy `major`): PostgreSQL keeps its on-disk
format within a major version, so any 15.x recovers a 15.x data directory
(the checker's identity names the one it ran). `--pg-bin FILE` (the
`postgres` program; `initdb` and `pg_controldata` must lie beside it)
overrides the search. The server runs in a user namespace (`unshare`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from powercut.targets.kit import Program


def _pg_config() -> list[Path | None]:
    """The `postgres` of the bin dir `pg_config` names, if there is a pg_config."""
    found = shutil.which("pg_config")
    if found is None:
        return []
    try:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [Path(out) / "postgres"] if out else []


POSTGRES = Program("postgres", "postgres", r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*)",
                   "apt postgresql-15", policy="major",
                   places=("/usr/lib/postgresql/*/bin/postgres",), extra_places=_pg_config,
                   companions=("initdb", "pg_controldata"), flag="--pg-bin")
UNSHARE = Program("unshare", "unshare", r"util-linux (\S+)", "apt util-linux",
                  places=("/usr/bin/unshare",))
