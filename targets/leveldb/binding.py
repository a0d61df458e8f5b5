"""Which LevelDB powercut tests: plyvel in this interpreter, linked against Debian's libleveldb.

PyPI's plyvel wheel bundles its own LevelDB (1.22, `plyvel.libs/`);
`scripts/setup` builds plyvel from source against Debian's libleveldb
(1.23), so the program tested is the one Debian ships. `header()` records
the LevelDB version and the library's file name and digest; `problem()`
says in one line what is missing.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from powercut.explorer.checkers.base import file_fingerprint

SETUP = "run scripts/setup (it builds plyvel against Debian's libleveldb-dev)"


def extension() -> Path:
    """plyvel's compiled extension module in this interpreter."""
    import plyvel._plyvel as ext
    return Path(ext.__file__)


@functools.cache
def linked() -> Path | None:
    """The libleveldb plyvel's extension loads (`ldd`), or None if it names none."""
    done = subprocess.run(["ldd", str(extension())], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30, start_new_session=True)
    m = re.search(r"^\s*libleveldb\S*\s+=>\s+(\S+)", done.stdout, re.MULTILINE)
    return Path(m.group(1)) if m else None


def versions() -> dict[str, str]:
    import plyvel
    return {"leveldb_version": plyvel.__leveldb_version__, "plyvel_version": plyvel.__version__}


def header() -> dict[str, Any]:
    """What a trace header records of the LevelDB under test."""
    library = linked()
    if library is None:
        return versions()
    real = Path(os.path.realpath(library))
    return {**versions(), "libleveldb": real.name,
            "libleveldb_sha256": file_fingerprint(real).removeprefix("sha256:")}


def problem() -> str | None:
    """Why the LevelDB target cannot run here, or None."""
    try:
        library = linked()
    except ImportError:
        return f"plyvel is not installed ({SETUP})"
    except (OSError, subprocess.SubprocessError) as e:
        return f"cannot run ldd on plyvel's extension: {e}"
    if library is None or "plyvel" in str(library):
        return (f"plyvel bundles its own LevelDB {versions()['leveldb_version']} (the PyPI "
                f"wheel), not Debian's libleveldb ({SETUP})")
    return None
