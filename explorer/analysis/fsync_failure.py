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
from dataclasses import replace

from powercut.explorer.analysis.cause import describe_op
from powercut.explorer.analysis.minimise import Culprit
from powercut.explorer.analysis.roles import Roles
from powercut.explorer.verdict import OpSummary

KIND = "fsync-failure"


def failed_call(culprit: Culprit, ops: list[OpSummary]) -> OpSummary | None:
    """The failed call behind a culprit, if it is one: a failed sync that left its lost pages
    clean (`failed_sync`), or, for a complete prefix that loses an acknowledged write, a
    write or sync that failed before that prefix first failed: nothing of it reached the
    disk in any state, and the program acknowledged anyway (a kernel file system under
    `record --fs` turns a failed block write into exactly that)."""
    if culprit.units:
        return failed_sync(culprit, ops)
    if culprit.verdict != "data-loss":
        return None
    return next((op for op in ops[:culprit.first_point + 1] if op.errno is not None), None)


def failed_sync(culprit: Culprit, ops: list[OpSummary]) -> OpSummary | None:
    """The failed sync that left the culprit's lost pages clean, if every one of them was
    covered by one: a failed fsync of its file after the page's last write and no later
    than the point from which losing the page fails. None for any other culprit, and when
    the loss mattered before the sync was even tried (an acknowledgement before the fsync:
    a missing barrier, `lost-data`, whatever the fsync then returned)."""
    if not culprit.units or any(u.is_op for u in culprit.units):
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


def key(culprit: Culprit, failed: OpSummary, roles: Roles) -> tuple[object, ...]:
    """What repeated instances share: the lost file's role (or, when nothing of the failed
    call reached the disk at all, the failed call's kind and file role), whichever of its
    calls failed: the faults of a sweep fold into one cause per file."""
    if culprit.units:
        return (KIND, culprit.verdict, roles.all(u.path for u in culprit.units))
    return (KIND, culprit.verdict, (failed.op, *roles.all([failed.path or ""])))


def errno_name(op: OpSummary) -> str:
    return errno.errorcode.get(op.errno or 0, str(op.errno))


def words(failed: OpSummary, after: OpSummary | None, files: str, missing: str,
          where: str) -> tuple[str, str]:
    """The barrier and the summary of an fsync-failure cause."""
    call = describe_op(replace(failed, errno=None))
    if after is not None and after.op == "marker":
        went_on = f"acknowledging ({after.text!r})"
    else:
        went_on = f"going on (op #{after.seq})" if after is not None else "going on"
    barrier = (f"stop when op #{failed.seq} ({call}) fails with {errno_name(failed)}: exit and "
               f"recover from the disk, or write the data again and fsync it, before "
               f"{went_on}; a later fsync that succeeds does not write pages a failed one left "
               "clean")
    what = f"{files} was fsynced, the fsync" if failed.op == "fsync" else (
        f"the {failed.op}" + (f" of {failed.path}" if failed.path else ""))
    summary = (f"{missing or 'data'} lost: {what} (op #{failed.seq}) failed with "
               f"{errno_name(failed)}, and the program went on ({where})")
    return barrier, summary
