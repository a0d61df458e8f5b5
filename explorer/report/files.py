"""Report files written whole or not at all, and durable once written.

Every report powercut writes (JSON, HTML, the LazyFS directory, a dry-run
document) goes through `write_text_atomic`. It must never leave half a
report under the report's name, and never let a power cut after it
returned lose or tear the report.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from powercut.errors import PowercutError


def write_text_atomic(path: str | os.PathLike[str], text: str, what: str) -> None:
    """Write `text` to `path` whole or not at all, durably.

    A reader never sees half a report, and once this returns a power cut
    leaves the new report (before, the old one or the new one, whole).
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        # Not mkstemp: its 0600 mode would hide the report from other users;
        # a fresh name created exclusively with the umask's mode is as safe.
        name = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        tmp = name
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            # Before the rename: else a power cut may keep the new name over
            # pages that never reached the disk, an empty or torn report.
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = None
        _sync_dir(target.parent)  # the rename itself, so the report is durable on return
    except OSError as e:
        raise PowercutError(f"cannot write the {what} to {target}: {e.strerror or e}") from e
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
