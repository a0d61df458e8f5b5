"""The in-memory tree: inode semantics, renames carrying subtrees, bad ops refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from powercut.errors import TraceError
from powercut.replayer.tree import final_tree
from powercut.trace import TraceWriter, open_trace


def _trace(tmp_path: Path, ops: list[tuple[str, dict]], initial=None):
    path = tmp_path / "t.trace"
    with TraceWriter(path, argv=["test"], workload={"name": "test"}, initial=initial) as w:
        for name, fields in ops:
            w.append(name, 1, **fields)
    return open_trace(path)


def test_final_tree_follows_renamed_directory_and_hard_links(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [
        ("mkdir", {"path": "d", "mode": 0o40755}),
        ("mkdir", {"path": "d/wal.tmp", "mode": 0o700}),
        ("create", {"path": "d/wal.tmp/0.wal", "mode": 0o100600}),
        ("write", {"path": "d/wal.tmp/0.wal", "offset": 0, "data": b"abc"}),
        ("rename", {"src": "d/wal.tmp", "dst": "d/wal", "flags": 0}),
        ("write", {"path": "d/wal/0.wal", "offset": 5000, "data": b"xyz"}),
        ("link", {"src": "d/wal/0.wal", "dst": "hard"}),
        ("write", {"path": "hard", "offset": 1, "data": b"B"}),
        ("symlink", {"path": "s", "target": "../outside"}),
        ("fsync", {"path": "hard", "datasync": True}),
        ("chmod", {"path": "d", "mode": 0o750}),
        ("marker", {"text": "done", "key": "k"}),
    ], initial=[{"path": "old", "kind": "file", "mode": 0o644, "data": b"init"}])
    tree = final_tree(trace)
    content = b"aBc" + bytes(4997) + b"xyz"
    assert tree == {
        "d": ("dir", 0o750, b""),
        "d/wal": ("dir", 0o700, b""),
        "d/wal/0.wal": ("file", 0o600, content),
        "hard": ("file", 0o600, content),
        "old": ("file", 0o644, b"init"),
        "s": ("symlink", 0o777, b"../outside"),
    }
    assert list(tree) == sorted(tree)


def test_truncate_fallocate_unlink_and_orphan_writes(tmp_path: Path) -> None:
    trace = _trace(tmp_path, [
        ("create", {"path": "f", "mode": 0o644}),
        ("write", {"path": "f", "offset": 0, "data": b"x" * 10000}),
        ("truncate", {"path": "f", "size": 5}),
        ("truncate", {"path": "f", "size": 64 << 20}),
        ("fallocate", {"path": "f", "offset": 0, "length": 2, "mode": 0x03}),
        ("create", {"path": "g", "mode": 0o644}),
        ("unlink", {"path": "g"}),
        ("write", {"path": "g", "offset": 0, "data": b"gone", "orphan": True}),
        ("fsync", {"path": "g", "datasync": False, "orphan": True}),
        ("create", {"path": "h", "mode": 0o644}),
        ("fallocate", {"path": "h", "offset": 0, "length": 8192, "mode": 0}),
        ("rename", {"src": "h", "dst": "f", "flags": "exchange"}),
    ])
    tree = final_tree(trace)
    assert tree["h"][2] == b"\0\0xxx" + bytes((64 << 20) - 5)
    assert tree["f"] == ("file", 0o644, bytes(8192))
    assert "g" not in tree


@pytest.mark.parametrize(("ops", "message"), [
    ([("write", {"path": "nope", "offset": 0, "data": b"x"})],
     "seq 0 write: 'nope' does not exist"),
    ([("mkdir", {"path": "d", "mode": 0o755}), ("create", {"path": "d/f", "mode": 0o644}),
      ("rmdir", {"path": "d"})], "seq 2 rmdir: 'd' is not empty"),
    ([("create", {"path": "f", "mode": 0o644}), ("create", {"path": "f/g", "mode": 0o644})],
     "seq 1 create: 'f/g': 'f' is not a directory"),
    ([("mkdir", {"path": "d", "mode": 0o755}), ("rename", {"src": "d", "dst": "d/e", "flags": 0})],
     "into itself"),
    ([("create", {"path": "f", "mode": 0o644}), ("create", {"path": "g", "mode": 0o644}),
      ("rename", {"src": "f", "dst": "g", "flags": "noreplace"})], "exists (noreplace)"),
    ([("mkdir", {"path": "d", "mode": 0o755}), ("unlink", {"path": "d"})], "is a directory"),
])
def test_nonsense_ops_are_trace_errors_naming_the_seq(tmp_path: Path, ops, message) -> None:
    trace = _trace(tmp_path, ops)
    with pytest.raises(TraceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        final_tree(trace)
