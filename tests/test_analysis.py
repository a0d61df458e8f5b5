"""The analysis groups failing crash states into vulnerabilities (pure, no etcd).

Explorations here are built by hand with a tiny lazyfs-like model
(`build_exploration`), so every law can be checked in milliseconds.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from powercut.explorer.analysis.grouping import find_vulnerabilities
from powercut.explorer.verdict import Exploration, Judged, OpSummary, Verdict
from powercut.replayer.state import CrashPoint, CrashState, Unit, kept_from_mapping

PAGE = 4096
Judge = Callable[[int, frozenset[tuple[str, int]]], Verdict]

OK = Verdict("ok")


def unrecoverable(sig: str = "panic: invalid database") -> Verdict:
    return Verdict("unrecoverable", sig, exit_status=2, excerpt=f"{sig}\ngoroutine 1 [running]:")


def op(seq: int, name: str, path: str | None = None, **kw: object) -> OpSummary:
    return OpSummary(seq=seq, op=name, pid=1, path=path, **kw)  # type: ignore[arg-type]


def write(seq: int, path: str, offset: int, length: int) -> OpSummary:
    return op(seq, "write", path, offset=offset, length=length)


def build_exploration(ops: list[OpSummary], judge: Judge, trace: str = "t.trace") -> Exploration:
    """Every crash state of `ops` under the lazyfs model, each judged by `judge`."""
    dirty: dict[tuple[str, int], tuple[int, ...]] = {}
    points: list[CrashPoint] = []
    judged: list[Judged] = []

    def crash_point(seq: int) -> None:
        units = tuple(Unit(p, pg, w) for (p, pg), w in sorted(dirty.items()))
        subsets = [
            frozenset((u.path, u.page) for u in chosen)
            for r in range(len(units) + 1)
            for chosen in itertools.combinations(units, r)
        ]
        points.append(CrashPoint(seq, units, 2 ** len(units), len(subsets)))
        for kept in subsets:
            by_path: dict[str, list[int]] = {}
            for path, page in kept:
                by_path.setdefault(path, []).append(page)
            state = CrashState(seq, kept_from_mapping(by_path), key=f"{seq}:{sorted(kept)}")
            judged.append(Judged(state, judge(seq, kept)))

    crash_point(-1)
    for o in ops:
        if o.op == "write":
            assert o.offset is not None and o.length is not None
            for page in range(o.offset // PAGE, (o.offset + o.length - 1) // PAGE + 1):
                dirty[(o.path or "", page)] = (*dirty.get((o.path or "", page), ()), o.seq)
        elif o.op == "fsync":
            dirty = {k: v for k, v in dirty.items() if k[0] != o.path}
        crash_point(o.seq)
    return Exploration(trace, "sha256:00", "lazyfs", PAGE, "test", ops, points, judged)


DB = "member/snap/db"
ETCD_OPS = [
    op(0, "mkdir", "member"),
    op(1, "mkdir", "member/snap"),
    op(2, "create", DB),
    write(3, DB, 0, 16384),
    op(4, "fsync", DB),
]
# The seed bug: a torn 16 KiB write to member/snap/db; only these subsets of
# its 4 pages leave a database bbolt can open.
ETCD_PASSING = {(), (0, 1, 2, 3), (0, 1)}


def etcd_judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
    if point != 3:
        return OK
    subset = tuple(sorted(page for _, page in kept))
    if subset in ETCD_PASSING:
        return OK
    if 0 in subset:
        return unrecoverable("panic: freepages: failed to get all reachable pages")
    return unrecoverable("invalid database")


def etcd_like() -> Exploration:
    return build_exploration(ETCD_OPS, etcd_judge, trace="traces/etcd.trace")


def test_torn_db_write_is_one_atomicity_vulnerability() -> None:
    vulns = find_vulnerabilities(etcd_like(), lazyfs_root="/home/data-r/data.etcd")
    assert len(vulns) == 1
    v = vulns[0]
    assert v.kind == "atomicity" and v.verdict == "unrecoverable"
    assert v.op is not None and v.op.seq == 3
    assert (v.failing, v.total) == (13, 16)
    assert v.summary == (
        "write #3, 16384 B at 0 of member/snap/db: 13 of 16 page subsets unrecoverable"
    )
    assert set(v.passing_subsets) == ETCD_PASSING
    assert len(v.failing_subsets) == 13 and not set(v.failing_subsets) & ETCD_PASSING
    assert v.write_pages == (0, 1, 2, 3)
    assert v.points == (3,)
    assert sum(s.count for s in v.signatures) == 13 == len(v.states)
    assert all(s.excerpt for s in v.signatures)
    # Smallest: one page kept, the earliest such.
    assert v.smallest.point == 3 and v.smallest.kept == ((DB, (0,)),)
    assert v.replay == (
        "powercut replay traces/etcd.trace --point 3 --keep member/snap/db:0 --to crash-state"
    )


def test_torn_write_lazyfs_fault_matches_the_seed_report_form() -> None:
    (v,) = find_vulnerabilities(etcd_like(), lazyfs_root="/home/data-r/data.etcd")
    assert v.lazyfs is not None and v.lazyfs.exact
    table = tomllib.loads(v.lazyfs.toml())["injection"][0]
    # The seed report's form: type, file, persist (1-based), parts, occurrence.
    assert table == {
        "type": "torn-op",
        "file": "/home/data-r/data.etcd/member/snap/db",
        "persist": [1],
        "parts": 4,
        "occurrence": 1,
    }
    assert list(table) == ["type", "file", "persist", "parts", "occurrence"]


def test_unaligned_torn_write_uses_part_sizes() -> None:
    ops = [op(0, "create", "f"), write(1, "f", 1000, 8192)]  # pages 0, 1, 2

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        pages = {page for _, page in kept}
        return unrecoverable() if point == 1 and pages == {2} else OK

    (v,) = find_vulnerabilities(build_exploration(ops, judge), lazyfs_root="/r")
    assert v.kind == "atomicity" and (v.failing, v.total) == (1, 8)
    assert v.lazyfs is not None
    table = tomllib.loads(v.lazyfs.toml())["injection"][0]
    assert table["parts_bytes"] == [3096, 4096, 1000] and "parts" not in table
    assert table["persist"] == [3] and table["file"] == "/r/f"


def test_later_write_persisted_before_earlier_is_ordering() -> None:
    ops = [
        op(0, "create", "wal"),
        op(1, "create", "db"),
        write(2, "db", 0, 4096),
        write(3, "wal", 0, 4096),
    ]

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        # The WAL says the db write happened; the db write did not persist.
        if ("wal", 0) in kept and ("db", 0) not in kept:
            return unrecoverable("panic: wal index ahead of db")
        return OK

    (v,) = find_vulnerabilities(build_exploration(ops, judge))
    assert v.kind == "ordering"
    assert [o.seq for o in v.ops] == [2, 3] and v.op is not None and v.op.seq == 2
    assert "write #3" in v.summary and "write #2" in v.summary
    assert v.smallest.kept == (("wal", (0,)),) and v.smallest.point == 3
    # LazyFS reproduces it: persist write #3 whole, crash, lose write #2.
    assert v.lazyfs is not None
    table = tomllib.loads(v.lazyfs.toml())["injection"][0]
    assert (table["file"], table["parts"], table["persist"]) == ("/tmp/lazyfs.root/wal", 1, [1])


def test_state_lazyfs_cannot_leave_says_why() -> None:
    ops = [
        op(0, "create", "a"),
        op(1, "create", "b"),
        op(2, "create", "c"),
        write(3, "a", 0, 100),
        write(4, "b", 0, 100),
        write(5, "c", 0, 100),
    ]

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        if {("a", 0), ("c", 0)} <= kept and ("b", 0) not in kept:
            return unrecoverable("c ahead of b")
        return OK

    exploration = build_exploration(ops, judge)
    (v,) = find_vulnerabilities(exploration)
    assert v.kind == "ordering" and [o.seq for o in v.ops] == [4, 5]
    assert v.lazyfs is None and "LazyFS cannot keep this set of pages" in v.lazyfs_why_not
    assert v.replay.endswith("--point 5 --keep a:0 --keep c:0 --to crash-state")


def test_failure_with_nothing_pending_is_durability_with_clear_cache_fault() -> None:
    ops = [op(0, "mkdir", "member"), op(1, "create", "member/x"), write(2, "member/x", 0, 10)]

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        return unrecoverable("member dir without wal") if point >= 1 and not kept else OK

    (v,) = find_vulnerabilities(build_exploration(ops, judge), lazyfs_root="/r")
    assert v.kind == "durability" and v.points == (1, 2)
    assert v.op is not None and v.op.seq == 1 and [o.seq for o in v.ops] == [1]
    assert "losing every unsynced page" in v.summary and "op #1 (create member/x)" in v.summary
    assert v.lazyfs is not None
    assert tomllib.loads(v.lazyfs.toml())["injection"][0] == {
        "type": "clear-cache",
        "from": "/r/member/x",
        "timing": "after",
        "op": "create",
        "occurrence": 1,
        "crash": True,
    }


def test_losing_unsynced_writes_names_them() -> None:
    ops = [op(0, "create", "log"), write(1, "log", 0, 4096), write(2, "log", 4096, 4096)]

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        # Needs page 1 (write #2) whenever it exists; page 0 alone is not enough.
        return unrecoverable("log tail lost") if point == 2 and ("log", 1) not in kept else OK

    (v,) = find_vulnerabilities(build_exploration(ops, judge))
    assert v.kind == "durability" and v.smallest.kept == ()
    assert [o.seq for o in v.ops] == [2, 1]  # the first failing op, then the lost writes


def test_data_loss_grouped_by_the_unsynced_file_and_sorted_after_unrecoverable() -> None:
    ops = [
        op(0, "create", "wal"),
        write(1, "wal", 0, 8192),
        op(2, "marker", text="ack k1"),
        write(3, "wal", 8192, 4096),
        op(4, "marker", text="ack k2"),
    ]

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        missing = [
            k
            for k, seq, page in (("k1", 2, 1), ("k2", 4, 2))
            if point >= seq and ("wal", page) not in kept
        ]
        if missing:
            # Either form a checker may use: plain keys or {"key", "value"} records.
            named = missing if point % 2 else [{"key": k, "value": "v"} for k in missing]
            return Verdict("data-loss", "acknowledged key missing", evidence={"missing": named})
        if point == 1 and kept == {("wal", 1)}:
            return unrecoverable("torn wal")
        return OK

    vulns = find_vulnerabilities(build_exploration(ops, judge))
    assert [(v.kind, v.missing) for v in vulns] == [("atomicity", ()),
                                                    ("data-loss", ("k1", "k2"))]
    lost = vulns[1]
    # One cause, however many keys it cost: acknowledging before the wal's fsync.
    assert lost.verdict == "data-loss" and lost.points == (2, 3, 4)
    assert lost.summary.startswith("2 acknowledged keys lost with unsynced pages of wal")
    assert [o.seq for o in lost.ops][1:] == [1]  # the write whose pages were lost


def test_data_loss_with_nothing_unsynced_is_grouped_by_missing_keys() -> None:
    ops = [op(0, "create", "db"), op(1, "marker", text="ack k1"),
           op(2, "marker", text="ack k2"), op(3, "fsync", "db")]

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        # Acknowledged, never written: lost whatever the disk kept.
        missing = ["k1", "k2"][:max(0, min(point, 2))]
        return (Verdict("data-loss", "acknowledged key missing", evidence={"missing": missing})
                if missing else OK)

    vulns = find_vulnerabilities(build_exploration(ops, judge))
    assert {(v.kind, v.missing) for v in vulns} == {("data-loss", ("k1",)),
                                                    ("data-loss", ("k1", "k2"))}
    assert all("acknowledged keys missing after recovery" in v.summary for v in vulns)


def test_hang_and_error_are_kept_apart() -> None:
    ops = [op(0, "create", "f"), write(1, "f", 0, 4096)]

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        if point == 1:
            return Verdict("hang", "no answer") if kept else Verdict("error", "checker crashed")
        return OK

    vulns = find_vulnerabilities(build_exploration(ops, judge))
    assert [v.kind for v in vulns] == ["hang", "error"]


# The law: every failing state lands in exactly one vulnerability; a passing
# state in none -- whatever the trace and the verdicts.
KINDS = ["ok", "ok", "unrecoverable", "data-loss", "hang", "error"]


@st.composite
def explorations(draw: st.DrawFn) -> Exploration:
    n = draw(st.integers(1, 6))
    ops: list[OpSummary] = [op(0, "create", "a"), op(1, "create", "b")]
    for seq in range(2, 2 + n):
        kind = draw(st.sampled_from(["write", "write", "fsync"]))
        path = draw(st.sampled_from(["a", "b"]))
        if kind == "fsync":
            ops.append(op(seq, "fsync", path, datasync=False))
        else:
            offset = draw(st.integers(0, 3 * PAGE))
            ops.append(write(seq, path, offset, draw(st.integers(1, 2 * PAGE))))
    verdicts = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=64))
    counter = itertools.count()

    def judge(point: int, kept: frozenset[tuple[str, int]]) -> Verdict:
        kind = verdicts[next(counter) % len(verdicts)]
        if kind == "ok":
            return OK
        evidence = {"missing": [f"k{point % 2}"]} if kind == "data-loss" else {}
        return Verdict(kind, f"sig{point % 3}", evidence=evidence)  # type: ignore[arg-type]

    return build_exploration(ops, judge)


@settings(max_examples=150, deadline=None)
@given(explorations())
def test_every_failing_state_is_in_exactly_one_vulnerability(exploration: Exploration) -> None:
    vulns = find_vulnerabilities(exploration)
    owners: dict[int, int] = {}
    for n, v in enumerate(vulns):
        assert v.states and len(set(v.states)) == len(v.states)
        assert sum(s.count for s in v.signatures) == len(v.states)
        assert v.smallest in [exploration.judged[i].state for i in v.states]
        for i in v.states:
            assert i not in owners
            owners[i] = n
    failing = {i for i, j in enumerate(exploration.judged) if j.verdict.failing}
    assert set(owners) == failing
    for v in vulns:  # the smallest state is the smallest, and subsets do not overlap
        sizes = [sum(len(p) for _, p in exploration.judged[i].state.kept) for i in v.states]
        assert sum(len(p) for _, p in v.smallest.kept) == min(sizes)
        assert not set(v.failing_subsets) & set(v.passing_subsets)
        assert v.failing <= v.total
