"""The results cache: verdicts kept across explorations, keyed by state content and checker.

A crash state's content key names its tree (and, for checkers that read
them, the markers before it), and a checker's `identity()` names everything
else a verdict depends on, so a verdict stored under both is valid for any
later exploration that meets the same state with the same checker: the
same trace explored again, a trace re-recorded with identical bytes, or
another trace whose states coincide. One journal file per checker identity
lives in the cache directory (`$POWERCUT_CACHE_DIR`, else
`$XDG_CACHE_HOME/powercut`, else `~/.cache/powercut`).

The cache is an optimisation and must never cost a verdict: records are
CRC-checked like the journal's (a torn one is a miss, never a verdict),
appends are not fsynced (a lost record is a miss too), and once the cache
cannot be written the exploration goes on without it and says so once.
`error` verdicts (the check itself broke) are never stored.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from powercut.explorer.store.journal import Journal, JournalError
from powercut.explorer.verdict import Verdict

ENV = "POWERCUT_CACHE_DIR"


def default_cache_dir() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "powercut"


class ResultsCache:
    """Verdicts of one checker identity, shared by every exploration that uses the directory."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._lock = threading.Lock()
        self.path = journal.path
        self.problem: str | None = None  # why the cache stopped taking verdicts, if it did

    @classmethod
    def open(cls, directory: Path | str, checker_id: str) -> ResultsCache:
        """The cache of `checker_id` under `directory` (made if missing)."""
        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise JournalError(f"cannot make the results cache {directory}: {e.strerror}; "
                               "pass --cache DIR or --no-cache") from None
        name = hashlib.sha256(checker_id.encode()).hexdigest()[:20] + ".verdicts"
        try:
            journal = Journal.open(directory / name, checker_id, sync=False)
        except JournalError as e:
            raise JournalError(f"results cache: {e}; pass --cache DIR or --no-cache") from None
        return cls(journal)

    def get(self, key: str) -> Verdict | None:
        if self.problem is not None:
            return None
        try:
            return self._journal.get(key)
        except JournalError as e:
            self._give_up(str(e))
            return None

    def append(self, key: str, verdict: Verdict) -> None:
        if verdict.verdict == "error" or self.problem is not None:
            return
        try:
            self._journal.append(key, verdict)
        except JournalError as e:
            self._give_up(str(e))

    def _give_up(self, why: str) -> None:
        with self._lock:
            self.problem = self.problem or why

    def close(self) -> None:
        self._journal.close()

    def __enter__(self) -> ResultsCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
