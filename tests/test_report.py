"""The reports render what the exploration and its analysis found: terminal and JSON."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from rich.console import Console

from powercut.explorer.exploration import Exploration
from powercut.explorer.report.htmlfile import render_html
from powercut.explorer.report.jsonfile import SCHEMA, to_json_dict, write_json
from powercut.explorer.report.terminal import MAX_PANELS, explain, make_console, print_report
from powercut.explorer.report.timeline import crash_text, gap_text, timeline_rows
from powercut.explorer.verdict import Verdict
from tests.synthetic import OK, PAGE, bad, etcd_like, make_trace, run
from tests.test_enumerate import trace_ops, write_trace


def render(exploration: Exploration, width: int = 100) -> str:
    out = io.StringIO()
    print_report(exploration, Console(file=out, width=width))
    return out.getvalue()


def test_terminal_report_shows_the_key_facts_without_a_terminal(tmp_path: Path) -> None:
    with etcd_like(tmp_path) as exploration:
        text = render(exploration)
    assert "\x1b[" not in text
    for fact in [
        "write #3, 16384 B at 0 of member/snap/db: 13 of 16 page subsets unrecoverable",
        "EXHAUSTIVE",
        "21 enumerated",
        "unrecoverable 13",
        "1 root cause found",
        "▮▯▯▯",  # a failing subset as a page map
        "▮▮▮▮",  # the passing "everything persisted" subset
        "panic: freepages: failed to get all reachable pages",
        "powercut replay",
        "--point 3 --lose member/snap/db:",
        'type="torn-op"',
        "occurrence=1",
        "persist all 4 pages of write #3",  # the barrier
        "✗ crash after #3: 13 of 16 states fail",
    ]:
        assert fact in text, fact
    assert all(len(line) <= 100 for line in text.splitlines())


def test_terminal_report_says_plainly_when_coverage_was_bounded(tmp_path: Path) -> None:
    with etcd_like(tmp_path, strategy="systematic", budget=8) as exploration:
        text = render(exploration, width=200)
    assert "BOUNDED: 1 of 6 crash points had more legal states than their share" in text
    assert "systematic, budget 8 states" in text


def test_terminal_report_with_no_cause_and_a_long_quiet_trace(tmp_path: Path) -> None:
    ops = [("create", {"path": "f", "mode": 0o600})]
    ops += [("write", {"path": "f", "offset": 0, "data": b"x" * 10}) for _ in range(59)]
    ops.append(("fsync", {"path": "f", "datasync": True}))
    with run(make_trace(tmp_path / "q.trace", ops), lambda d, m: OK) as exploration:
        text = render(exploration)
    assert "no root cause found" in text
    assert "… 59 ops …" in text and "fdatasync f" in text


def test_plain_console_has_no_colour_codes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CI", "true")
    out = io.StringIO()
    with etcd_like(tmp_path) as exploration:
        print_report(exploration, make_console(out))
    assert "\x1b[" not in out.getvalue() and "13 of 16" in out.getvalue()


def test_log_excerpts_are_not_rich_markup(tmp_path: Path) -> None:
    hostile = "[bold red]boom[/] [link=http://x]y[/link] <script>alert(1)</script>"
    ops = [("create", {"path": "f", "mode": 0o600}),
           ("write", {"path": "f", "offset": 0, "data": b"z" * 10})]

    def judge(d: Path, m: object) -> Verdict:
        return Verdict("unrecoverable", hostile, excerpt=hostile) if (d / "f").stat().st_size \
            else OK

    with run(make_trace(tmp_path / "h.trace", ops), judge) as exploration:
        assert "[bold red]boom[/]" in render(exploration, width=200)


def test_json_report_leads_with_causes_and_streams_every_state(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    with etcd_like(tmp_path) as exploration:
        write_json(path, exploration)
        keys = [j.state.key for j in exploration.judged]
        doc = json.loads(path.read_text())
        assert doc == to_json_dict(exploration)
    assert (doc["kind"], doc["version"]) == ("powercut-report", 2) and SCHEMA == "powercut-report/2"
    assert list(doc) == ["kind", "version", "trace", "trace_digest", "model", "kernel", "page_size",
                         "checker", "summary", "causes", "errors", "crash_points", "states"]
    summary = doc["summary"]
    assert set(summary) == {"crash_points", "states_enumerated", "states_distinct",
                            "states_checked", "states_reused", "states_same_tree", "verdicts",
                            "coverage", "causes",
                            "errors", "minimisation", "elapsed_s", "workers", "interrupted",
                            "failing", "analysed", "not_analysed", "result"}
    assert summary["verdicts"] == {"ok": 8, "unrecoverable": 13}
    assert (summary["failing"], summary["analysed"], summary["not_analysed"],
            summary["result"]) == (13, True, "", "1 root cause found")
    cov = summary["coverage"]
    assert (cov["exhaustive"], cov["legal"], cov["enumerated"], cov["share"]) == (True, 21, 21,
                                                                                   1.0)
    assert cov["classes"]["exhaustive"] == {"size": 21, "enumerated": 21, "points": 6,
                                            "complete_points": 6}
    assert [s["key"] for s in doc["states"]] == keys
    assert doc["states"][-1]["lost"] == []  # after the fsync nothing is pending
    assert {"point": 3, "lost": ["member/snap/db:1-3"], "verdict": "unrecoverable"} in [
        {k: st[k] for k in ("point", "lost", "verdict")} for st in doc["states"]]
    (c,) = doc["causes"]
    assert (c["kind"], c["verdict"], c["roles"], c["points"]) == (
        "torn-write", "unrecoverable", ["member/snap/db"], [3])
    assert c["after"] == {"seq": 3, "op": "write", "path": "member/snap/db", "offset": 0,
                          "length": 16384}
    assert c["torn"]["pages"] == [0, 1, 2, 3] and len(c["torn"]["failing"]) == 13
    assert [] in c["torn"]["passing"] and [0, 1, 2, 3] in c["torn"]["passing"]
    assert sum(s["count"] for s in c["signatures"]) == c["failing"] == 13
    assert c["culprit"]["point"] == 3 and c["minimal"] is True
    assert c["reproducer"]["replay"].startswith("powercut replay ")
    assert 'type="torn-op"' in c["reproducer"]["lazyfs"]
    assert c["id"].startswith("C") and len(c["id"]) == 9


def test_cause_ids_are_stable_across_runs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with etcd_like(tmp_path / "a") as one, etcd_like(tmp_path / "b", workers=1) as two:
        assert [c.id for c in one.causes] == [c.id for c in two.causes]


def test_json_report_to_an_unwritable_place_is_one_clear_error(tmp_path: Path) -> None:
    with etcd_like(tmp_path) as exploration:
        target = tmp_path / "missing-dir" / "r.json"
        try:
            write_json(target, exploration)
        except Exception as e:
            assert type(e).__name__ == "PowercutError" and "JSON report" in str(e)
        else:
            raise AssertionError("writing into a missing directory must fail")
    assert not (tmp_path / "missing-dir").exists()


def test_timeline_joins_a_run_of_failing_points_and_folds_quiet_syncs(tmp_path: Path) -> None:
    ops = [("create", {"path": "f", "mode": 0o600})]
    for _ in range(20):  # 20 write+fsync pairs
        ops += [("write", {"path": "f", "offset": 0, "data": b"y" * 10}),
                ("fsync", {"path": "f", "datasync": False})]
    ops += [("rename", {"src": "f", "dst": "g", "flags": 0})]
    ops += [("create", {"path": f"h{i}", "mode": 0o600}) for i in range(8)]

    def judge(d: Path, m: object) -> Verdict:
        return bad("no answer", verdict="hang") if (d / "g").exists() else OK

    with run(make_trace(tmp_path / "t.trace", ops), judge) as exploration:
        rows = timeline_rows(exploration, exploration.causes)
        text = render(exploration)
    crashes = [crash_text(r) for r in rows if r.kind == "crash"]
    assert crashes == ["✗ crash after each of #41-49: 9 of 9 states fail (hang 9) → #1"]
    gaps = [gap_text(r) for r in rows if r.kind == "gap"]
    assert "… 7 ops …" in gaps  # between the first and last op of the failing run
    assert sum(r.kind == "barrier" for r in rows) == 6  # of 20 quiet syncs
    assert any("(14 syncs)" in g for g in gaps)
    assert "after each of #41-49" in text and "rename f → g" in text


def test_json_report_is_readable_by_others_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "r.json"
    path.parent.mkdir()
    with etcd_like(tmp_path) as exploration:
        write_json(path, exploration)
    assert path.stat().st_mode & 0o044 == 0o044 or os.umask(os.umask(0)) & 0o044
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_terminal_report_caps_panels_and_says_where_the_rest_are(tmp_path: Path) -> None:
    names = [f"f{a}{b}" for a in "abcdef" for b in "ghijkl"][:MAX_PANELS + 4]
    ops: list[tuple[str, dict]] = []
    for name in names:  # each file torn on its own: a cause per file role
        ops += [("create", {"path": name, "mode": 0o600}),
                ("write", {"path": name, "offset": 0, "data": b"p" * (2 * PAGE)}),
                ("fsync", {"path": name, "datasync": True})]

    def judge(d: Path, m: object) -> Verdict:
        for f in d.iterdir():
            if f.stat().st_size and f.read_bytes().count(0):
                return bad(f"torn {f.name}")
        return OK

    with run(make_trace(tmp_path / "t.trace", ops), judge) as exploration:
        assert len(exploration.causes) == MAX_PANELS + 4
        text = render(exploration)
        out = io.StringIO()
        explain(MAX_PANELS + 2, exploration.causes[MAX_PANELS + 1], Console(file=out))
        assert f"#{MAX_PANELS + 2} torn-write" in out.getvalue()
    assert f"#{MAX_PANELS} torn-write" in text and f"#{MAX_PANELS + 1} torn-write" not in text
    assert "… 4 more root causes" in text


_SETTINGS = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(ops=trace_ops())
def test_every_report_renders_any_exploration(tmp_path: Path, ops) -> None:  # type: ignore[no-untyped-def]
    trace = write_trace(tmp_path / "r.trace", ops)

    def judge(d: Path, m: object) -> Verdict:  # fails on some contents, deterministically
        blob = b"".join(p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file())
        return bad("odd") if sum(blob) % 3 == 0 and blob else OK

    with run(trace, judge) as exploration:
        text = render(exploration)
        assert ("no root cause found" in text) == (not exploration.causes)
        doc = to_json_dict(exploration)
        assert len(doc["states"]) == exploration.enumerated
        assert len(doc["causes"]) == len(exploration.causes)
        page = render_html(exploration)
        assert page.count('<section class="cause') == len(exploration.causes)
        failing = sum(1 for j in exploration.judged if j.outcome.failing)
        # Every failing state is folded into exactly one cause.
        assert sum(c.failing for c in exploration.causes) == failing


def test_coverage_says_when_only_some_crash_points_were_explored(tmp_path: Path) -> None:
    with etcd_like(tmp_path, points=range(2, 4)) as exploration:
        text = render(exploration)
        assert to_json_dict(exploration)["summary"]["coverage"]["exhaustive"] is False
    assert "PARTIAL: only crash points 2-3 of -1-4 were explored" in text


def test_subsets_of_a_large_write_are_page_ranges_not_maps() -> None:
    from powercut.explorer.report.timeline import point_ranges, subset_maps

    assert subset_maps(((0, 3), ()), (0, 1, 2, 3)) == "▮▯▯▮ ▯▯▯▯"
    pages = tuple(range(64))
    assert subset_maps(((0, 1, 2, 3, 9),), pages) == "{0-3,9}"
    assert subset_maps(tuple((i,) for i in range(30)), pages).endswith("{23} … 6 more")
    assert point_ranges([-1, 0, 1, 5]) == "-1-1,5"
