"""Hostile but well-signed traces through the replayer: work or TraceError, never a stray byte.

The trace reader's fuzzer (`test_trace_fuzz`) feeds malformed bytes; this
one writes valid-looking traces with `TraceWriter` whose operations are
hostile: files that do not exist, a directory renamed into itself, hard
links to directories, symlinks pointing outside and then written through,
huge sparse sizes, odd but legal names. Every state `Enumeration` yields is
materialised; either that works or a `TraceError` says why, and nothing
outside the target directory changes (the directory around it is compared
before and after, a sibling `outside/` included).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.errors import TraceError
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.materialise import TooLarge, materialise
from powercut.replayer.models import MODELS, get_model
from powercut.trace import MAX_FILE_OFFSET, TraceWriter, open_trace

TRIED = {"traces": 0, "states": 0, "refused": 0, "refused_states": 0, "too_large": 0}
STATES_PER_TRACE = 6

TRICKY = ["a b", "-n", ".hidden", "..a", "a..", "é", "x" * 255, "\\", "*", "\n", "outside"]
# Mostly a few plain names, so that ops find what earlier ops made and
# states get materialised; the tricky ones often enough to matter.
NAME = st.one_of(st.sampled_from(["a", "d", "s"]), st.sampled_from(["a", "b", "d", "s"]),
                 st.sampled_from(TRICKY))
PATHS = st.lists(NAME, min_size=1, max_size=3).map("/".join)
TARGETS = st.one_of(
    st.sampled_from(["/etc/passwd", "..", "../outside", "../../outside/x", "a/../..", ".",
                     "a", "d/..", "/", "a/b/../../..", "d/../../outside"]),
    PATHS)
SIZES = st.one_of(st.integers(0, 3 * 4096), st.sampled_from(
    [MAX_FILE_OFFSET, MAX_FILE_OFFSET - 1, 1 << 40, (1 << 31) + 1]))


@st.composite
def ops(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    kind = draw(st.sampled_from(["create", "mkdir", "unlink", "rmdir", "rename", "link",
                                 "symlink", "write", "truncate", "fallocate", "chmod",
                                 "fsync", "fsyncdir", "marker"]))
    path = draw(PATHS)
    if kind in ("create", "mkdir", "chmod"):
        return kind, {"path": path, "mode": draw(st.sampled_from([0o644, 0o755, 0, 0o7777]))}
    if kind in ("unlink", "rmdir", "fsyncdir"):
        return kind, {"path": path}
    if kind == "rename":
        into_itself = draw(st.booleans())
        dst = f"{path}/{draw(PATHS)}" if into_itself else draw(PATHS)
        return kind, {"src": path, "dst": dst,
                      "flags": draw(st.sampled_from([0, "noreplace", "exchange"]))}
    if kind == "link":
        return kind, {"src": path, "dst": draw(PATHS)}
    if kind == "symlink":
        return kind, {"path": path, "target": draw(TARGETS)}
    if kind == "write":
        data = draw(st.binary(min_size=1, max_size=9000))
        offset = draw(SIZES)
        return kind, {"path": path, "offset": min(offset, MAX_FILE_OFFSET - len(data)),
                      "data": data}
    if kind == "truncate":
        return kind, {"path": path, "size": draw(SIZES)}
    if kind == "fallocate":
        offset = draw(SIZES)
        length = draw(st.integers(1, 3 * 4096))
        return kind, {"path": path, "offset": min(offset, MAX_FILE_OFFSET - length),
                      "length": length, "mode": draw(st.sampled_from([0, 1, 3]))}
    if kind == "fsync":
        return kind, {"path": path, "datasync": draw(st.booleans())}
    return kind, {"text": draw(st.text(max_size=20))}


# A symlink out of the tree, then a write through it: the attack in one piece.
ESCAPE = st.tuples(st.sampled_from(["s", "d/s"]), st.sampled_from(
    ["../outside", "/tmp", "..", "../outside/x"]), st.sampled_from(["", "/x", "/d/x"])).map(
    lambda t: [("symlink", {"path": t[0], "target": t[1]}),
               ("create", {"path": t[0] + t[2], "mode": 0o644}),
               ("write", {"path": t[0] + t[2], "offset": 0, "data": b"escaped"})])
OPS = st.lists(st.one_of(ops().map(lambda op: [op]), ESCAPE), min_size=1, max_size=6).map(
    lambda groups: [op for group in groups for op in group])

INITIAL = st.lists(st.one_of(
    st.just({"path": "a", "kind": "file", "mode": 0o644, "data": b"a" * 5000}),
    st.just({"path": "d", "kind": "dir", "mode": 0o755}),
    st.builds(lambda p: {"path": p, "kind": "dir", "mode": 0o755}, PATHS),
    st.builds(lambda p, d: {"path": p, "kind": "file", "mode": 0o644, "data": d}, PATHS,
              st.binary(max_size=5000)),
    st.builds(lambda p, t: {"path": p, "kind": "symlink", "mode": 0o777, "target": t}, PATHS,
              TARGETS)), max_size=4)


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, int | str]]:
    """Every path under `root` but `skip`: (mode, size, mtime_ns or link target)."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or Path(dirpath).is_relative_to(skip):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path == skip:
                continue
            st_ = path.lstat()
            extra = os.readlink(path) if path.is_symlink() else st_.st_mtime_ns
            seen[str(path)] = (st_.st_mode, st_.st_size, extra)
    return seen


SETTINGS = settings(max_examples=1500, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@SETTINGS
@given(initial=INITIAL, trace_ops=OPS,
       model=st.sampled_from(sorted(MODELS)))
def test_hostile_traces_replay_or_raise_trace_error(
        tmp_path_factory: pytest.TempPathFactory, initial: list[dict[str, object]],
        trace_ops: list[tuple[str, dict[str, object]]], model: str) -> None:
    work = tmp_path_factory.mktemp("fuzz")
    (work / "outside").mkdir()
    (work / "outside" / "x").write_bytes(b"keep me")
    path = work / "t.trace"
    TRIED["traces"] += 1
    try:
        with TraceWriter(path, argv=["fuzz"], workload={"name": "command"},
                         initial=initial) as writer:
            for kind, fields in trace_ops:
                writer.append(kind, 1, **fields)
        before = snapshot(work, work / "target")
        trace = open_trace(path)
        for n, state in enumerate(Enumeration(trace, get_model(model, trace.page_size),
                                              max_states=8)):
            if n >= STATES_PER_TRACE:
                break
            target = work / "target"
            TRIED["states"] += 1
            try:
                materialise(state, target)
            except TraceError:
                TRIED["refused_states"] += 1
            except TooLarge:  # a write near the reader's 16 TiB bound, past ext4's limit
                TRIED["too_large"] += 1
            finally:
                assert snapshot(work, target) == before, "materialise wrote outside its target"
                shutil.rmtree(target, ignore_errors=True)
    except TraceError:
        TRIED["refused"] += 1
    assert (work / "outside" / "x").read_bytes() == b"keep me"
    assert sorted(p.name for p in work.iterdir()) == ["outside", "t.trace"]


def test_the_fuzzer_exercised_every_path(request: pytest.FixtureRequest) -> None:
    """Last in the module: the fuzzer reached refusals and real materialisations alike.

    A strategy that only ever produced traces the reader refuses (or only
    harmless ones) would pass the fuzz test while testing nothing.
    """
    fuzz = "test_hostile_traces_replay_or_raise_trace_error"
    if not any(getattr(item, "originalname", "") == fuzz and item.module is request.module
               for item in request.session.items):
        assert TRIED["traces"] == 0
        return
    materialised = TRIED["states"] - TRIED["refused_states"] - TRIED["too_large"]
    print(f"\nreplayer fuzz: {TRIED}")
    assert TRIED["traces"] >= SETTINGS.max_examples // 2, TRIED  # the fuzz test really ran
    assert 0 < TRIED["refused"] < TRIED["traces"], TRIED  # traces refused, and others replayed
    assert TRIED["refused_states"] > 0, TRIED  # a state materialise refused (an escape)
    assert materialised > 0, TRIED  # states materialised whole
