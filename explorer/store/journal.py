"""A crash-safe, content-keyed store of verdicts: the exploration journal (and the cache's file).

A journal file (format in `records`) maps a crash state's content key and
a checker identity to a verdict. `Journal.append` returns only once the
record is on disk (written and fdatasync'd); threads appending at once
share one fdatasync (group commit), so a verdict may be *reported* as soon
as `append` returns. A writer that opens the file alone truncates a torn
tail so its own records follow valid ones. Records of other checkers are
kept in the file and ignored by `get`.

It must never lose a record `append` returned for, never report a torn
record as a verdict, and never truncate a file that is not a journal. After
one failed fdatasync the journal is broken for good: every later `append`
raises, since the kernel may have dropped the pages that write-back failed on.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgpack

from powercut.explorer.store.records import (
    _HEADER_BYTES,
    HEADER,
    JournalError,
    _pack_record,
    _valid,
    _valid_header,
    decode_verdict,
    encode_verdict,
    records,
    scan,
)
from powercut.explorer.verdict import Verdict

__all__ = ["HEADER", "Journal", "JournalError", "decode_verdict", "open_journal", "records", "scan"]


class Journal:
    """Verdicts of one checker, keyed by crash-state content key, durable on `append`."""

    def __init__(self, path: Path, checker_id: str, fd: int,
                 index: dict[str, tuple[int, int]], loaded: int, *, sync: bool = True) -> None:
        self.path = path
        self.sync = sync  # False: `append` only writes (the results cache, where a loss is a miss)
        self.checker_id = checker_id
        self._fd = fd
        # key -> (offset, length) of its record: memory stays small however
        # many log tails the journal holds; `get` reads the record back.
        self._index = index
        self.loaded = loaded  # verdicts of this checker found on open
        self.others = 0  # states judged by other checkers (another binary, command, timeout)
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0
        self._broken: str | None = None

    @classmethod
    def open(cls, path: Path | str, checker_id: str, *, sync: bool = True) -> Journal:
        """Open (or create) the journal at `path` for the verdicts of `checker_id`.

        With `sync=False` appends are not made durable one by one (a crash may
        lose the last ones, never turn a torn record into a verdict).
        """
        path = Path(path)
        if not path.parent.is_dir():
            raise JournalError(f"journal {path}: its directory does not exist")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except IsADirectoryError:
            raise JournalError(f"journal {path} is a directory; give a file path") from None
        except OSError as e:
            raise JournalError(f"cannot open journal {path}: {e.strerror}") from None
        try:
            alone = _lock(fd)
            index: dict[str, tuple[int, int]] = {}
            others: set[str] = set()
            end = 0
            for record in records(path):
                if record.checker_id == checker_id:
                    index[record.key] = (record.offset, record.length)
                else:
                    others.add(record.key)
                end = record.offset + record.length
            end = end or (len(_HEADER_BYTES) if _valid_header(path) else 0)
            if alone and end != os.fstat(fd).st_size:
                # Ours alone: cut the torn tail (or torn header) so appends follow valid records.
                os.ftruncate(fd, end)
            if alone and end == 0:
                os.write(fd, _HEADER_BYTES)
                os.fsync(fd)
                _sync_dir(path.parent)
            if alone:
                _downgrade(fd)  # from now on other writers may share the file
            journal = cls(path, checker_id, fd, index, len(index), sync=sync)
            journal.others = len(others - index.keys())
            return journal
        except BaseException:
            os.close(fd)
            raise

    def get(self, key: str) -> Verdict | None:
        """The verdict this checker gave the state with content key `key`, if any."""
        where = self._index.get(key)
        if where is None:
            return None
        offset, length = where
        with self._write_lock:
            blob = os.pread(self._fd, length, offset)
        try:
            record = msgpack.unpackb(blob, raw=False, strict_map_key=False)
        except Exception:  # judged just below
            record = None
        if not _valid(record) or record["key"] != key:
            raise JournalError(f"journal {self.path} changed under powercut; "
                               "run again without --resume")
        return decode_verdict(record["verdict"])

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __len__(self) -> int:
        return len(self._index)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def append(self, key: str, verdict: Verdict, *, durable: bool = True) -> None:
        """Store `verdict` for `key`; returns once it is durable (safe to report) if `sync`.

        `durable=False` only writes (a verdict copied from the results cache: a
        crash that loses it costs a cache lookup, never a wrong verdict).
        """
        fields = encode_verdict(verdict)
        record = _pack_record(key, self.checker_id, fields)
        with self._write_lock:
            if self._fd < 0:
                raise JournalError(f"journal {self.path} is closed")
            if self._broken is not None:
                raise JournalError(self._broken)
            try:
                _write_all(self._fd, record, self.path)
            except JournalError as e:
                # Records after a torn one would be unreadable: refuse them all.
                self._broken = str(e)
                raise
            # O_APPEND put it at the end; the descriptor's offset is now just past it.
            end = os.lseek(self._fd, 0, os.SEEK_CUR)
            self._index[key] = (end - len(record), len(record))
            self._written += 1
            mine = self._written
        if self.sync and durable:
            self._sync_until(mine)

    def _sync_until(self, mine: int) -> None:
        # Group commit: whoever holds the sync lock syncs everything written so
        # far; threads queued behind it find their record already covered.
        with self._sync_lock:
            if self._synced >= mine:
                return
            with self._write_lock:
                if self._broken is not None:
                    raise JournalError(self._broken)
                upto, fd = self._written, self._fd
            try:
                os.fdatasync(fd)
            except OSError as e:
                # fsyncgate: a failed writeback may have dropped the dirty pages
                # and a later fdatasync would succeed without them, so no record
                # written so far, nor any later one, may ever be called durable.
                message = f"cannot make journal {self.path} durable: {e.strerror}"
                with self._write_lock:
                    self._broken = message
                raise JournalError(message) from None
            self._synced = upto

    def close(self) -> None:
        with self._sync_lock, self._write_lock:
            if self._fd >= 0:
                os.close(self._fd)  # closing drops the flock
                self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def open_journal(path: Path | str, checker_id: str, *, resume: bool) -> Iterator[Journal]:
    """The journal of one exploration: continued with `resume`, else started afresh.

    Starting afresh replaces an old journal at `path`, never a file that is
    not one; resuming needs the journal to be there.
    """
    path = Path(path)
    if resume and not path.exists():
        raise JournalError(f"--resume: there is no journal at {path}; run without --resume, "
                           "or name the journal with --journal PATH")
    if path.exists() and _in_use(path):
        raise JournalError(f"journal {path} is in use by another running exploration; wait "
                           "for it, or name another journal with --journal PATH")
    if not resume and path.exists():
        scan(path)  # refuses (and keeps) a file that is not a journal
        path.unlink()
    journal = Journal.open(path, checker_id)
    try:
        yield journal
    finally:
        journal.close()


def _in_use(path: Path) -> bool:
    """True when a live process holds the journal open (every open journal holds a flock)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return not _alone(fd)
    finally:
        os.close(fd)


def _alone(fd: int) -> bool:
    """Take the file's lock exclusively if no other open file holds it; say whether it did."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        return False


def _lock(fd: int) -> bool:
    """Share the file with other live writers; True when no other process has it open.

    O_APPEND writes of whole records do not interleave, so live writers can
    share a journal; only one alone may truncate a torn tail (another live
    writer's record in flight looks torn too).
    """
    if _alone(fd):
        return True
    fcntl.flock(fd, fcntl.LOCK_SH)
    return False


def _downgrade(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_SH)


def _write_all(fd: int, data: bytes, path: Path) -> None:
    try:
        written = os.write(fd, data)
    except OSError as e:
        raise JournalError(f"cannot append to journal {path}: {e.strerror}"
                           + (" (disk full: free space or use --journal elsewhere)"
                              if e.errno == errno.ENOSPC else "")) from None
    if written != len(data):
        # A short append leaves a torn record; the next open cuts it off.
        raise JournalError(f"cannot append to journal {path}: short write (disk full?)")


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
