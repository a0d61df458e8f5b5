"""Writing report files whole or not at all, and durably: what powercut asks of the programs it
tests, it does itself.

A report is written to a fresh temporary name beside its target, fsynced,
renamed over the target, and the directory is fsynced: a crash leaves the
old report or the new one, never half of one, and a report that was said
to be written survives a power cut (proved by powercut on its own trace,
`tests/test_report_files_powercut.py`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from powercut.errors import PowercutError


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], what: str) -> Iterator[IO[str]]:
    """A text file to write into; on success it replaces `path` durably, else it vanishes."""
    target = Path(path)
    tmp: Path | None = None
    try:
        # Not mkstemp: its 0600 mode would hide the report from other users;
        # a fresh name created exclusively with the umask's mode is as safe.
        name = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        tmp = name
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = None
        _fsync_dir(target.resolve().parent)
    except OSError as e:
        raise PowercutError(f"cannot write the {what} to {target}: {e.strerror or e}") from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_text_atomic(path: str | os.PathLike[str], text: str, what: str) -> None:
    """Write `text` to `path` whole or not at all, and durably."""
    with atomic_writer(path, what) as f:
        f.write(text)
