"""The Python binding of an embedded database: which library powercut tests, found and recorded.

An embedded database runs inside the Python process that uses it, through
a binding (plyvel for LevelDB, the standard `sqlite3` module for SQLite,
rocksdict for RocksDB): an extension module that either links the
system's shared library (`library`, found with `ldd`) or carries the
database inside it. A trace's header records the database's version and
the digest of the code that ran it (`header`); a checker refuses a trace
recorded with another version (`refuse_other`) and names the same files
in its identity (`files`); `problem` says in one line what is missing.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from powercut.errors import CheckerError
from powercut.explorer.checkers.base import file_fingerprint


@dataclass(frozen=True)
class Binding:
    """An extension module, the shared library it must link (or "" when it carries the
    database), and how to ask the database's version."""

    key: str  # the header's prefix: `<key>_version`
    module: str  # the extension module, e.g. "plyvel._plyvel"
    library: str  # the shared library's name, e.g. "libleveldb"; "" when built in
    version: Callable[[], str] = field(repr=False)
    install: str  # how to get it, for the one-line error
    extra: Callable[[], dict[str, str]] = field(default=lambda: {}, repr=False)

    def extension(self) -> Path:
        module = importlib.import_module(self.module)
        return Path(str(module.__file__))

    def linked(self) -> Path | None:
        """The shared library the extension loads (`ldd`), or None if it names none."""
        return _linked(str(self.extension()), self.library) if self.library else None

    def files(self) -> list[Path]:
        """The code that opens a database: the extension and the library it links."""
        linked = self.linked()
        return [self.extension(), *([Path(os.path.realpath(linked))] if linked else [])]

    def header(self) -> dict[str, Any]:
        """What a trace header records: the version, and the code's name and digest."""
        found = {f"{self.key}_version": self.version(), **self.extra()}
        code = self.files()[-1]
        return {**found, f"{self.key}_library": code.name,
                f"{self.key}_sha256": file_fingerprint(code).removeprefix("sha256:")}

    def problem(self) -> str | None:
        """Why this binding cannot run here, or None: not installed, or (for one that must
        link the system's library) carrying a database of its own."""
        try:
            linked = self.linked()
            self.version()
        except ImportError:
            return f"{self.module.split('.')[0]} is not installed ({self.install})"
        except (OSError, subprocess.SubprocessError) as e:
            return f"cannot run ldd on {self.module}: {e}"
        if self.library and (linked is None or self.module.split(".")[0] in str(linked)):
            return (f"{self.module.split('.')[0]} carries its own {self.key} "
                    f"{self.version()}, not the system's {self.library} ({self.install})")
        return None

    def refuse_other(self, workload: Mapping[str, Any]) -> None:
        """CheckerError when the trace was recorded with another version of the database."""
        problem = self.problem()
        if problem is not None:
            raise CheckerError(problem)
        want, here = workload.get(f"{self.key}_version"), self.version()
        if isinstance(want, str) and want != here:
            raise CheckerError(f"the trace was recorded with {self.key} {want}; this "
                               f"interpreter runs {self.key} {here} ({self.install})")


@functools.cache
def _linked(extension: str, library: str) -> Path | None:
    done = subprocess.run(["ldd", extension], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30, start_new_session=True)
    m = re.search(rf"^\s*{re.escape(library)}\S*\s+=>\s+(\S+)", done.stdout, re.MULTILINE)
    return Path(m.group(1)) if m else None
