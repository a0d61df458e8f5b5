"""Causes of kind `fsync-failure`: data a failed fsync left clean, lost after the program went on.

When an fsync fails (`record --fail`), Linux marks the pages it covered
clean: a later fsync that succeeds does not write them, so they stay
pending until the program writes them again (see the replayer's
`models/failure`). A culprit that loses only such pages is not a missing
fsync: the program did fsync, was told it failed, and carried on (retried,
or acknowledged anyway). Its cause names that call: the barrier is to stop
there (exit and recover from what is on disk, as a database's PANIC does)
or to write the data again and sync it before acknowledging. A program
that exits on the error never acknowledges what the failure lost, so no
state of it fails this way. Pure: reads the culprit and the op summaries.
"""

from __future__ import annotations

import errno

from powercut.explorer.analysis.minimise import Culprit
from powercut.explorer.analysis.roles import roles
from powercut.explorer.verdict import OpSummary

KIND = "fsync-failure"


def failed_sync(culprit: Culprit, ops: list[OpSummary]) -> OpSummary | None:
    """The failed sync that left the culprit's lost pages clean, if every one of them was
    covered by one: a failed fsync of its file after the page's last write and no later
    than the point from which losing the page fails. None for any other culprit, and when
    the loss mattered before the sync was even tried (an acknowledgement before the fsync:
    a missing barrier, `lost-data`, whatever the fsync then returned)."""
    if not culprit.units or any(u.kind != "page" for u in culprit.units):
        return None
    failed = [op for op in ops[:culprit.first_point + 1]
              if op.errno is not None and op.op == "fsync"]
    if not failed:
        return None
    found = None
    for unit in culprit.units:
        mine = [op for op in failed if op.path == unit.path and op.seq > unit.writes[-1]]
        if not mine:
            return None
        found = found or mine[0]
    return found


def key(culprit: Culprit) -> tuple[object, ...]:
    """What repeated instances share: the file's role, whichever of its syncs failed (the
    faults of a sweep fold into one cause per file)."""
    return (KIND, culprit.verdict, roles(u.path for u in culprit.units))


def errno_name(op: OpSummary) -> str:
    return errno.errorcode.get(op.errno or 0, str(op.errno))


def words(failed: OpSummary, after: OpSummary | None, files: str, missing: str,
          where: str) -> tuple[str, str]:
    """The barrier and the summary of an fsync-failure cause."""
    call = f"{'fdatasync' if failed.datasync else 'fsync'} {failed.path}"
    if after is not None and after.op == "marker":
        went_on = f"acknowledging ({after.text!r})"
    else:
        went_on = f"going on (op #{after.seq})" if after is not None else "going on"
    barrier = (f"stop when op #{failed.seq} ({call}) fails with {errno_name(failed)}: exit and "
               f"recover from the disk, or write the data again and fsync it, before "
               f"{went_on}; a later fsync that succeeds does not write pages a failed one left "
               "clean")
    summary = (f"{missing or 'data'} lost: {files} was fsynced, the fsync (op #{failed.seq}) "
               f"failed with {errno_name(failed)}, and the program went on ({where})")
    return barrier, summary
