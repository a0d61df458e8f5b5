"""What a failed fsync leaves, as every model applies it: the rule, its two variants, helpers.

Linux marks the pages a failed fsync or fdatasync covered *clean*: the
error is reported once, and a later fsync that succeeds does not write
them, unless the program writes them again. So a crash after that
"successful" fsync may still lose them. What the file holds in memory
after the failure differs by file system (Rebello et al., "Can
Applications Recover from fsync Failures?", USENIX ATC 2020, the CuttleFS
paper, Table 1):

- `keep` (the default; ext4 `data=ordered` and XFS): the page cache keeps
  the new bytes. Each failed page may or may not have reached the disk
  (the I/O error may have hit any of its blocks), and it stays so at every
  later crash point until it is written again; a page written again is
  dirty with all its latest bytes, the failed ones included, and a later
  sync makes them durable. This is the larger set of states: every page
  lost is one of them.
- `revert` (btrfs): copy-on-write drops the failed transaction and the
  file's pages and size go back to what is on disk, so the failed bytes
  are gone in memory too: what the program writes next lands on the old
  content. (The recorder still serves the program the new bytes: reads
  during a recorded run are ext4's.)

A failed sync commits no journal entry and folds no directory entry (the
weak models keep those pending), and a failed write changed nothing. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from powercut.errors import PowercutError
from powercut.replayer.pages import PageStore
from powercut.replayer.tree import Node

KEEP = "keep"
REVERT = "revert"
FSYNC_FAILURES = (KEEP, REVERT)


def check_fsync_failure(value: str) -> str:
    if value not in FSYNC_FAILURES:
        raise PowercutError(f"--fsync-failure {value!r}: expected one of "
                            f"{', '.join(FSYNC_FAILURES)}")
    return value


def revert_file(node: Node, durable: PageStore | None, size: int, pages: Iterable[int]) -> None:
    """Put `pages` of the latest file `node` back to their `durable` content, and its size
    to `size` (btrfs after a failed sync)."""
    assert node.data is not None
    for page in pages:
        if durable is None:
            node.data.set(page, None)
        else:
            node.data.set(page, durable.get(page), durable.hash_of(page))
    node.data.cut(size)
    node.size = size


Saved = dict[int, tuple[bytes | None, int]]


def save_failed(durable: PageStore | None, failed: Iterable[int]) -> Saved:
    """The durable content of the `failed` pages, taken before a sync changes the durable
    data (a weak model may fold an append's size or garbage into it first)."""
    if durable is None:
        return dict.fromkeys(failed, (None, 0))
    return {page: (durable.get(page), durable.hash_of(page)) for page in failed}


def keep_failed(synced: PageStore, saved: Saved) -> PageStore:
    """`synced` (the latest data, about to become durable) with the failed pages left at
    their `saved` durable content: a sync does not write a page a failed sync left clean."""
    for page, (content, digest) in saved.items():
        synced.set(page, content, digest if content is not None else None)
    return synced
