"""Root causes on synthetic traces with known bugs: exactly one cause each, with the right barrier.

Each program is written op by op and judged by a Python function (see
`synthetic`), so the real enumerator, driver, minimisation and grouping
run in milliseconds. Every bug has a negative control: the same program
with the barrier added gives no cause. The structured fields are asserted,
not the prose.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from powercut.explorer.verdict import Verdict
from powercut.trace import Op
from tests.synthetic import OK, PAGE, acked, bad, loss, make_trace, marker, run


def _pages(data: bytes) -> int:
    return len(data) // PAGE


# --------------------------------------------------------------------------- a torn write

BLOCK = b"".join(bytes([65 + p]) * PAGE for p in range(4))


def torn_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    f = directory / "f"
    data = f.read_bytes() if f.exists() else b""
    if data in (b"", BLOCK):
        return OK
    return bad("checksum mismatch in f")


def test_torn_multi_page_write_is_one_cause(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", [
        ("create", {"path": "f", "mode": 0o600}),
        ("write", {"path": "f", "offset": 0, "data": BLOCK}),
        ("fsync", {"path": "f", "datasync": True}),
    ])
    with run(trace, torn_judge) as exploration:
        [cause] = exploration.causes
        assert (cause.kind, cause.verdict, cause.roles) == ("torn-write", "unrecoverable", ("f",))
        assert cause.torn is not None and cause.torn.write.seq == 1
        assert cause.torn.pages == (0, 1, 2, 3)
        assert set(cause.torn.passing) == {(), (0, 1, 2, 3)}
        assert len(cause.torn.failing) == 14
        assert cause.after is not None and cause.after.seq == 1
        assert cause.points == (1,) and cause.culprit.point == 1
        assert cause.lazyfs is not None and cause.lazyfs.kind == "torn-op"
        assert "atomically" in cause.barrier


def test_atomic_replace_instead_is_clean(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", [
        ("create", {"path": "tmp", "mode": 0o600}),
        ("write", {"path": "tmp", "offset": 0, "data": BLOCK}),
        ("fsync", {"path": "tmp", "datasync": True}),
        ("rename", {"src": "tmp", "dst": "f", "flags": 0}),
    ])
    with run(trace, torn_judge) as exploration:
        assert exploration.causes == []
        assert exploration.verdicts["ok"] == exploration.enumerated


# --------------------------------------------------------------------------- fsync before rename


def config_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    cfg = directory / "cfg"
    if not cfg.exists():
        return bad("no config")
    if not re.fullmatch(rb"v\d\n", cfg.read_bytes()):
        return bad("config is empty or corrupt")
    return OK


def _replaces(fsync: bool, times: int = 2) -> list[tuple[str, dict]]:
    ops: list[tuple[str, dict]] = []
    for i in range(1, times + 1):
        ops += [("create", {"path": "tmp", "mode": 0o644}),
                ("write", {"path": "tmp", "offset": 0, "data": f"v{i}\n".encode()})]
        if fsync:
            ops.append(("fsync", {"path": "tmp", "datasync": False}))
        ops.append(("rename", {"src": "tmp", "dst": "cfg", "flags": 0}))
    return ops


def test_missing_fsync_before_rename_is_one_cause_over_every_replace(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", _replaces(fsync=False),
                       initial=[{"path": "cfg", "kind": "file", "mode": 0o644, "data": b"v0\n"}])
    with run(trace, config_judge) as exploration:
        [cause] = exploration.causes
        assert (cause.kind, cause.verdict, cause.roles) == ("lost-data", "unrecoverable", ("cfg",))
        assert cause.after is not None and cause.after.op == "rename"
        assert (cause.after.path, cause.after.dst) == ("tmp", "cfg")
        assert cause.barrier.startswith("fsync cfg before rename tmp → cfg")
        assert cause.points[0] == 2 and 5 in cause.points  # both replaces fold into it
        assert cause.culprit.lost == ("cfg:0",)


def test_fsync_before_rename_is_clean(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", _replaces(fsync=True),
                       initial=[{"path": "cfg", "kind": "file", "mode": 0o644, "data": b"v0\n"}])
    with run(trace, config_judge) as exploration:
        assert exploration.causes == []


# --------------------------------------------------------------------------- fsync before ack


def log_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    log = directory / "log"
    text = log.read_text() if log.exists() else ""
    missing = [k for k, v in acked(markers).items() if f"{k}={v}\n" not in text]
    return loss(missing) if missing else OK


def _puts(fsync_first: bool) -> list[tuple[str, dict]]:
    ops: list[tuple[str, dict]] = [("create", {"path": "log", "mode": 0o600})]
    offset = 0
    for i in range(1, 3):
        line = f"k{i}=v{i}\n".encode()
        ops.append(("write", {"path": "log", "offset": offset, "data": line}))
        offset += len(line)
        sync = ("fsync", {"path": "log", "datasync": True})
        ops += [sync, marker(f"k{i}", f"v{i}")] if fsync_first else [marker(f"k{i}", f"v{i}"),
                                                                      sync]
    return ops


def test_missing_fsync_before_acknowledgement_is_one_cause(tmp_path: Path) -> None:
    with run(make_trace(tmp_path / "t.trace", _puts(fsync_first=False)), log_judge) as ex:
        [cause] = ex.causes
        assert (cause.kind, cause.verdict, cause.roles) == ("lost-data", "data-loss", ("log",))
        assert cause.after is not None and cause.after.op == "marker"
        assert cause.missing == ("k1", "k2")
        assert cause.barrier.startswith("fsync log before acknowledging")
        assert cause.lazyfs is None  # LazyFS cannot crash "after a marker"


def test_fsync_before_acknowledgement_is_clean(tmp_path: Path) -> None:
    with run(make_trace(tmp_path / "t.trace", _puts(fsync_first=True)), log_judge) as ex:
        assert ex.causes == []


# --------------------------------------------------------------------------- an ordering


def pointer_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    a, b = directory / "a", directory / "b"
    if b.exists() and b.read_bytes() == b"points to a\n" and (
            not a.exists() or a.read_bytes() != b"the data\n"):
        return bad("b points to missing data")
    return OK


def _pointer(fsync_a: bool) -> list[tuple[str, dict]]:
    ops: list[tuple[str, dict]] = [("create", {"path": "a", "mode": 0o600}),
                                   ("write", {"path": "a", "offset": 0, "data": b"the data\n"})]
    if fsync_a:
        ops.append(("fsync", {"path": "a", "datasync": True}))
    return [*ops, ("create", {"path": "b", "mode": 0o600}),
            ("write", {"path": "b", "offset": 0, "data": b"points to a\n"})]


def test_true_ordering_dependency_is_one_ordering_cause(tmp_path: Path) -> None:
    with run(make_trace(tmp_path / "t.trace", _pointer(fsync_a=False)), pointer_judge) as ex:
        [cause] = ex.causes
        assert (cause.kind, cause.roles, cause.partner_roles) == ("ordering", ("a",), ("b",))
        assert cause.after is not None and (cause.after.op, cause.after.path) == ("write", "b")
        assert cause.barrier == "fsync a before write to b"


def test_fsync_between_the_two_writes_is_clean(tmp_path: Path) -> None:
    with run(make_trace(tmp_path / "t.trace", _pointer(fsync_a=True)), pointer_judge) as ex:
        assert ex.causes == []


# --------------------------------------------------------------------------- a complete prefix


def hang_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    if (directory / "half").exists() and not (directory / "done").exists():
        return bad("no answer within the timeout", verdict="hang")
    return OK


@pytest.mark.parametrize("done_first", [False, True])
def test_hang_from_a_complete_prefix(tmp_path: Path, done_first: bool) -> None:
    ops = [("create", {"path": "half", "mode": 0o600}),
           ("write", {"path": "half", "offset": 0, "data": b"x"}),
           ("fsync", {"path": "half", "datasync": True}),
           ("create", {"path": "done", "mode": 0o600})]
    if done_first:  # the negative control: the program marks itself done first
        ops = [ops[3], *ops[:3]]
    with run(make_trace(tmp_path / "t.trace", ops), hang_judge) as ex:
        if done_first:
            assert ex.causes == []
            return
        [cause] = ex.causes
        assert (cause.kind, cause.verdict, cause.roles) == ("prefix", "hang", ())
        assert cause.after is not None and (cause.after.seq, cause.after.op) == (0, "create")
        assert cause.points == (0, 1, 2) and cause.culprit.lost == ()


def test_errors_are_not_causes(tmp_path: Path) -> None:
    def broken(directory: Path, markers: Sequence[Op]) -> Verdict:
        raise ValueError("the checker itself broke")

    trace = make_trace(tmp_path / "t.trace", _pointer(fsync_a=False))
    with run(trace, broken) as ex:
        assert ex.causes == []
        [error] = ex.analysis.errors
        assert error.signature == "checker error: ValueError"
        assert error.count == ex.enumerated  # every state, duplicates included


# ------------------------------------------------------------- once the budget is spent

def objects_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    """Each acknowledged commit needs its object whole (git's loose objects in small)."""
    missing = [k for k in acked(markers)
               if not (directory / "objects" / k).exists()
               or (directory / "objects" / k).read_bytes() != k.encode() * 100]
    return loss(missing) if missing else OK


def _commits(n: int) -> list[tuple[str, dict]]:
    ops: list[tuple[str, dict]] = [("mkdir", {"path": "objects", "mode": 0o755})]
    for i in range(n):
        key = f"c{i}"
        ops += [("create", {"path": f"objects/{key}", "mode": 0o644}),
                ("write", {"path": f"objects/{key}", "offset": 0, "data": key.encode() * 100}),
                marker(key, key)]
    return ops


def test_once_the_budget_is_spent_states_fold_in_by_role_not_unexplained(
        tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", _commits(6))
    with run(trace, objects_judge) as roomy:
        [cause] = roomy.causes
        assert (cause.kind, cause.roles, cause.unchecked) == ("lost-data", ("objects/c<n>",), 0)
    # Few states judged and room for one minimisation: the rest fold in by role and signature.
    with run(trace, objects_judge, budget=40, cause_budget=8, analysis_budget=8) as tight:
        [cause] = tight.causes
        assert (cause.kind, cause.roles) == ("lost-data", ("objects/c<n>",))
        assert cause.failing == sum(j.outcome.verdict != "ok" for j in tight.iter_judged())
        assert cause.unchecked > 0
        assert "folded in by role and signature" in cause.summary


def test_each_commits_instance_is_explained_by_role_not_minimised_again(tmp_path: Path) -> None:
    """Under alice every commit's object and entry is its own instance of the same culprits:
    after the first, one check confirms each (the next commit's unit in the same role), so
    the analysis stays far inside its budget and folds nothing in unchecked."""
    trace = make_trace(tmp_path / "t.trace", _commits(4))
    with run(trace, objects_judge, model="alice") as ex:
        assert sorted((c.kind, c.roles) for c in ex.causes) == [
            ("lost-data", ("objects/c<n>",)), ("lost-namespace", ("objects",)),
            ("lost-namespace", ("objects/c<n>",))]
        assert all(c.unchecked == 0 for c in ex.causes)
        assert ex.analysis.checks <= 20  # minimising each instance anew took 33


def test_unexplained_says_what_budget_explains_it(tmp_path: Path) -> None:
    """No checks at all for the analysis: every failing state is unexplained, and the budget
    each unexplained group names does explain it."""
    trace = make_trace(tmp_path / "t.trace", _pointer(fsync_a=False))
    with run(trace, pointer_judge, cause_budget=16, analysis_budget=0) as starved:
        [cause] = starved.causes
        assert cause.kind == "unexplained"
        assert cause.barrier == (
            "not known: the analysis spent its 0 checks before these "
            f"{cause.failing} failing states (b points to missing data) were minimised; an "
            "analysis budget of 16 checks gives it room for them")
    with run(trace, pointer_judge, cause_budget=16, analysis_budget=16) as roomy:
        assert [c.kind for c in roomy.causes] == ["ordering"]
