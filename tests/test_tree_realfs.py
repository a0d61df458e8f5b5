"""The in-memory tree against the real kernel: random ops run on a real directory
and on a `Tree` in lock step; an op fails on one exactly when it fails on the
other, and the trace of the ops that succeeded replays (final_tree) to exactly
the real directory. The kernel is the independent oracle for namespace rules
(hard links, renames onto links of the same file, directory renames...).
"""

from __future__ import annotations

import ctypes
import os
import stat
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.errors import TraceError
from powercut.replayer.tree import Tree, final_tree
from powercut.trace import Op, TraceWriter, open_trace

NAMES = ["a", "b", "a/x", "a/y", "b/x", "a/x/z"]
_libc = ctypes.CDLL(None, use_errno=True)


def _fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    if _libc.fallocate(fd, mode, ctypes.c_long(offset), ctypes.c_long(length)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _real(root: Path, name: str, fields: dict) -> None:
    """Run one op on the real directory (raises OSError as the kernel does)."""
    def p(key: str = "path") -> Path:
        return root / fields[key]

    if name == "mkdir":
        os.mkdir(p(), fields["mode"])
    elif name == "create":
        os.close(os.open(p(), os.O_CREAT | os.O_EXCL | os.O_WRONLY, fields["mode"]))
    elif name == "unlink":
        os.unlink(p())
    elif name == "rmdir":
        os.rmdir(p())
    elif name == "rename":
        flags = {0: 0, "noreplace": 1, "exchange": 2}[fields["flags"]]
        if _libc.renameat2(-100, bytes(p("src")), -100, bytes(p("dst")), flags) != 0:  # AT_FDCWD
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    elif name == "link":
        os.link(p("src"), p("dst"), follow_symlinks=False)
    elif name == "symlink":
        os.symlink(fields["target"], p())
    elif name == "chmod":
        os.chmod(p(), fields["mode"])
    elif name in ("write", "truncate", "fallocate"):
        fd = os.open(p(), os.O_WRONLY | os.O_NOFOLLOW)
        try:
            if name == "write":
                os.pwrite(fd, fields["data"], fields["offset"])
            elif name == "truncate":
                os.ftruncate(fd, fields["size"])
            else:
                _fallocate(fd, fields["mode"], fields["offset"], fields["length"])
        finally:
            os.close(fd)


_OPS = st.one_of(
    st.tuples(st.just("mkdir"), st.fixed_dictionaries(
        {"path": st.sampled_from(NAMES), "mode": st.sampled_from([0o755, 0o700])})),
    st.tuples(st.just("create"), st.fixed_dictionaries(
        {"path": st.sampled_from(NAMES), "mode": st.sampled_from([0o644, 0o600])})),
    st.tuples(st.sampled_from(["unlink", "rmdir"]),
              st.fixed_dictionaries({"path": st.sampled_from(NAMES)})),
    st.tuples(st.just("rename"), st.fixed_dictionaries(
        {"src": st.sampled_from(NAMES), "dst": st.sampled_from(NAMES),
         "flags": st.sampled_from([0, 0, "noreplace", "exchange"])})),
    st.tuples(st.just("link"), st.fixed_dictionaries(
        {"src": st.sampled_from(NAMES), "dst": st.sampled_from(NAMES)})),
    st.tuples(st.just("symlink"), st.fixed_dictionaries(
        {"path": st.sampled_from(NAMES), "target": st.sampled_from(["a", "x/y", "nowhere"])})),
    st.tuples(st.just("chmod"), st.fixed_dictionaries(
        {"path": st.sampled_from(NAMES), "mode": st.sampled_from([0o640, 0o700, 0o755])})),
    st.tuples(st.just("write"), st.fixed_dictionaries(
        {"path": st.sampled_from(NAMES), "offset": st.integers(0, 20000),
         "data": st.binary(min_size=0, max_size=9000)})),
    st.tuples(st.just("truncate"), st.fixed_dictionaries(
        {"path": st.sampled_from(NAMES), "size": st.integers(0, 30000)})),
    st.tuples(st.just("fallocate"), st.fixed_dictionaries(
        {"path": st.sampled_from(NAMES), "offset": st.integers(0, 20000),
         "length": st.integers(1, 20000), "mode": st.sampled_from([0, 1, 3])})),
)


_FOLLOWING = {"chmod", "write", "truncate", "fallocate"}


def _through_symlink(root: Path, name: str, fields: dict) -> bool:
    """Whether a path walks through a symlink (or ends at one, for an op that
    follows it): the kernel resolves those before FUSE sees the op, so the
    recorder never records such a path."""
    for key in ("path", "src", "dst"):
        if key in fields:
            parts = fields[key].split("/")
            for i in range(1, len(parts) + (name in _FOLLOWING)):
                if os.path.islink(root.joinpath(*parts[:i])):
                    return True
    return False


def _walk(root: Path) -> dict[str, tuple[str, int, bytes]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath, name)
            rel = str(full.relative_to(root))
            st_ = full.lstat()
            mode = stat.S_IMODE(st_.st_mode)
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = ("symlink", 0o777, os.readlink(full).encode())
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = ("dir", mode, b"")
            else:
                out[rel] = ("file", mode, full.read_bytes())
    return out


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(_OPS, max_size=25))
def test_tree_agrees_with_the_kernel(tmp_path: Path, ops) -> None:
    run = tmp_path / f"run{len(os.listdir(tmp_path))}"
    root = run / "root"
    root.mkdir(parents=True)
    tree = Tree()
    with TraceWriter(run / "t.trace", argv=["t"], workload={}) as w:
        for name, fields in ops:
            if _through_symlink(root, name, fields):
                continue
            try:
                _real(root, name, fields)
                real_error: OSError | None = None
            except OSError as e:
                real_error = e
            op = Op(seq=w.ops, t_ns=0, pid=1, op=name, **fields)
            try:
                tree.apply(op)
                tree_error: TraceError | None = None
            except TraceError as e:
                tree_error = e
            assert (real_error is None) == (tree_error is None), (name, fields, real_error,
                                                                  tree_error)
            if real_error is None:
                w.append(name, 1, **fields)
    assert final_tree(open_trace(run / "t.trace")) == _walk(root)
