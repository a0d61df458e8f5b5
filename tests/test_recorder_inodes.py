"""The inode table without a mount: paths follow renames, orphans keep their last path."""

from __future__ import annotations

import pytest

from powercut.recorder.inodes import ROOT_INODE, InodeTable


def table_with_wal() -> tuple[InodeTable, int, int]:
    t = InodeTable(root_backing_ino=100)
    d = t.remember(ROOT_INODE, "wal.tmp", 101, True).ino
    f = t.remember(d, "0.wal", 102, False).ino
    return t, d, f


def test_directory_rename_moves_the_paths_of_open_files() -> None:
    t, d, f = table_with_wal()
    t.opened(f, fh=1)
    assert t.path(f) == "wal.tmp/0.wal"
    t.rename(ROOT_INODE, "wal.tmp", ROOT_INODE, "wal")
    assert t.path(f) == "wal/0.wal"
    assert t.trace_path(f) == ("wal/0.wal", False)
    assert t.child(ROOT_INODE, "wal.tmp") is None and t.child(ROOT_INODE, "wal") == d


def test_unlinked_open_file_is_an_orphan_with_its_last_path() -> None:
    t, d, f = table_with_wal()
    t.opened(f, fh=1)
    t.unlink(d, "0.wal")
    assert t.trace_path(f) == ("wal.tmp/0.wal", True)
    with pytest.raises(KeyError):
        t.path(f)
    # A new file may get the freed backing number once the last handle closes.
    t.released(f, fh=1)
    fresh = t.remember(d, "0.wal", 102, False)
    assert fresh.ino != f and t.path(fresh.ino) == "wal.tmp/0.wal"


def test_rename_over_an_open_file_orphans_the_target() -> None:
    t, d, f = table_with_wal()
    t.opened(f, fh=1)
    g = t.remember(d, "new", 103, False).ino
    t.rename(d, "new", d, "0.wal")
    assert t.trace_path(f) == ("wal.tmp/0.wal", True)
    assert t.trace_path(g) == ("wal.tmp/0.wal", False)


def test_exchange_swaps_names() -> None:
    t, d, f = table_with_wal()
    g = t.remember(d, "other", 103, False).ino
    t.rename(d, "0.wal", d, "other", exchange=True)
    assert (t.path(f), t.path(g)) == ("wal.tmp/other", "wal.tmp/0.wal")


def test_hard_link_keeps_a_path_after_one_name_goes() -> None:
    t, d, f = table_with_wal()
    same = t.remember(ROOT_INODE, "link", 102, False)
    assert same.ino == f and t.path(f) == "wal.tmp/0.wal"
    t.unlink(d, "0.wal")
    assert t.trace_path(f) == ("link", False)


def test_forget_drops_unknown_nodes_but_keeps_parents_of_known_ones() -> None:
    t, d, f = table_with_wal()
    t.forget(d, 1)
    assert t.path(f) == "wal.tmp/0.wal"  # the child still derives its path through d
    t.forget(f, 1)
    assert f not in t.nodes and d not in t.nodes
