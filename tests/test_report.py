"""The reports render what the analysis found: terminal, JSON (pure, no etcd)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from hypothesis import given, settings
from rich.console import Console

from powercut.explorer.analysis.grouping import find_vulnerabilities
from powercut.explorer.report.htmlfile import render_html
from powercut.explorer.report.jsonfile import SCHEMA, to_json_dict, write_json
from powercut.explorer.report.terminal import make_console, print_report
from powercut.explorer.verdict import Exploration, Verdict
from powercut.replayer.state import CrashPoint
from tests.test_analysis import OK, build_exploration, etcd_like, explorations, op, write


def render(exploration, vulns, width: int = 100) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    print_report(exploration, vulns, Console(file=out, width=width))
    return out.getvalue()


def test_terminal_report_shows_the_key_facts_without_a_terminal() -> None:
    exploration = etcd_like()
    vulns = find_vulnerabilities(exploration)
    text = render(exploration, vulns)
    assert "\x1b[" not in text
    for fact in [
        "write #3, 16384 B at 0 of member/snap/db: 13 of 16 page subsets unrecoverable",
        "EXHAUSTIVE",
        "21 enumerated",
        "unrecoverable 13",
        "1 vulnerability found",
        "▮▯▯▯",  # a failing subset as a page map
        "▮▮▮▮",  # the passing "everything persisted" subset
        "panic: freepages: failed to get all reachable pages",
        "powercut replay traces/etcd.trace --point 3 --keep member/snap/db:0 --to crash-state",
        'type="torn-op"',
        "occurrence=1",
        "fsync member/snap/db",  # the barrier
        "✗ crash after #3: 13 of 16 states fail",
    ]:
        assert fact in text, fact
    assert all(len(line) <= 100 for line in text.splitlines())


def test_terminal_report_says_plainly_when_coverage_was_bounded() -> None:
    exploration = etcd_like()
    cp = exploration.crash_points[4]
    exploration.crash_points[4] = CrashPoint(cp.seq, cp.units, cp.possible * 4, cp.enumerated)
    text = render(exploration, find_vulnerabilities(exploration))
    assert "BOUNDED: 1 crash point(s) had more states than --max-states" in text


def test_terminal_report_with_no_vulnerability_and_a_long_quiet_trace() -> None:
    ops = [op(0, "create", "f")] + [write(i, "f", 0, 10) for i in range(1, 60)]
    ops.append(op(60, "fsync", "f", datasync=True))
    exploration = build_exploration(ops, lambda point, kept: OK)
    text = render(exploration, [])
    assert "no vulnerability found" in text
    assert "… 59 ops …" in text and "fdatasync f" in text


def test_plain_console_has_no_colour_codes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CI", "true")
    out = io.StringIO()
    exploration = etcd_like()
    print_report(exploration, find_vulnerabilities(exploration), make_console(out))
    assert "\x1b[" not in out.getvalue() and "13 of 16" in out.getvalue()


def test_log_excerpts_are_not_rich_markup() -> None:
    ops = [op(0, "create", "f"), write(1, "f", 0, 10)]
    hostile = "[bold red]boom[/] [link=http://x]y[/link] <script>alert(1)</script>"

    def judge(point, kept):  # type: ignore[no-untyped-def]
        return Verdict("unrecoverable", hostile, excerpt=hostile) if kept else OK

    exploration = build_exploration(ops, judge)
    text = render(exploration, find_vulnerabilities(exploration), width=200)
    assert "[bold red]boom[/]" in text


def test_json_report_has_the_schema_and_every_state(tmp_path: Path) -> None:
    exploration = etcd_like()
    vulns = find_vulnerabilities(exploration)
    path = tmp_path / "report.json"
    write_json(path, exploration, vulns)
    doc = json.loads(path.read_text())
    assert doc == json.loads(json.dumps(to_json_dict(exploration, vulns)))
    assert doc["schema"] == SCHEMA == "powercut-report/1"
    assert list(doc) == [
        "schema",
        "trace",
        "model",
        "page_size",
        "checker",
        "summary",
        "states",
        "vulnerabilities",
    ]
    summary = doc["summary"]
    assert set(summary) == {
        "crash_points",
        "states_enumerated",
        "states_distinct",
        "states_checked",
        "states_reused",
        "verdicts",
        "coverage",
        "elapsed_s",
        "workers",
        "interrupted",
    }
    assert summary["verdicts"] == {"ok": 8, "unrecoverable": 13}
    assert summary["coverage"] == {
        "exhaustive": True,
        "bounded_points": 0,
        "possible": 21,
        "enumerated": 21,
    }
    assert len(doc["states"]) == exploration.enumerated == 21
    assert [s["key"] for s in doc["states"]] == [j.state.key for j in exploration.judged]
    assert doc["states"][-1]["kept"] == {}  # after the fsync nothing is pending
    assert {"point": 3, "kept": {"member/snap/db": [0]}, "verdict": "unrecoverable"} in [
        {k: st[k] for k in ("point", "kept", "verdict")} for st in doc["states"]
    ]
    (v,) = doc["vulnerabilities"]
    assert set(v) == {
        "kind",
        "op",
        "failing",
        "total",
        "signatures",
        "failing_subsets",
        "passing_subsets",
        "points",
        "reproducer",
        "summary",
        "missing",
        "members",
    }
    assert v["op"] == {"seq": 3, "path": "member/snap/db", "offset": 0, "length": 16384}
    assert (v["kind"], v["failing"], v["total"], v["points"]) == ("atomicity", 13, 16, [3])
    assert sum(s["count"] for s in v["signatures"]) == 13
    assert [] in v["passing_subsets"] and [0, 1, 2, 3] in v["passing_subsets"]
    assert v["reproducer"]["replay"].startswith("powercut replay traces/etcd.trace --point 3")
    assert 'type="torn-op"' in v["reproducer"]["lazyfs"]


def test_json_report_to_an_unwritable_place_is_one_clear_error(tmp_path: Path) -> None:
    exploration = etcd_like()
    target = tmp_path / "missing-dir" / "r.json"
    try:
        write_json(target, exploration, [])
    except Exception as e:
        assert type(e).__name__ == "PowercutError" and "JSON report" in str(e)
    else:
        raise AssertionError("writing into a missing directory must fail")
    assert not list(tmp_path.iterdir())


def test_timeline_joins_a_run_of_failing_points_and_folds_quiet_syncs() -> None:
    from powercut.explorer.report.timeline import crash_text, gap_text, timeline_rows

    ops = [op(0, "create", "f")]
    for i in range(1, 41, 2):  # 20 write+fsync pairs
        ops += [write(i, "f", 0, 10), op(i + 1, "fsync", "f", datasync=False)]
    ops += [op(41, "rename", "f", dst="g")] + [op(s, "create", f"h{s}") for s in range(42, 50)]

    def judge(point, kept):  # type: ignore[no-untyped-def]
        return Verdict("hang", "no answer") if point >= 41 else OK

    exploration = build_exploration(ops, judge)
    rows = timeline_rows(exploration, find_vulnerabilities(exploration))
    crashes = [crash_text(r) for r in rows if r.kind == "crash"]
    assert crashes == ["✗ crash after each of #41..#49: 9 of 9 states fail (hang 9) → #1"]
    gaps = [gap_text(r) for r in rows if r.kind == "gap"]
    assert "… 7 ops …" in gaps  # between the first and last op of the failing run
    assert sum(r.kind == "barrier" for r in rows) == 6  # of 20 quiet syncs
    assert any("(14 syncs)" in g for g in gaps)
    text = render(exploration, find_vulnerabilities(exploration))
    assert "after each of #41..#49" in text and "rename f → g" in text


def test_json_report_is_readable_by_others_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_json(path, etcd_like(), [])
    assert path.stat().st_mode & 0o044 == 0o044 or os.umask(os.umask(0)) & 0o044
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_terminal_report_caps_panels_and_says_where_the_rest_are() -> None:
    from powercut.explorer.report.terminal import MAX_PANELS

    ops = [op(0, "create", "f")]
    ops += [op(i, "create", f"g{i}") for i in range(1, MAX_PANELS + 6)]

    def judge(point, kept):  # type: ignore[no-untyped-def]
        return Verdict("error", f"checker broke {point}") if point >= 0 else OK

    exploration = build_exploration(ops, judge)
    vulns = find_vulnerabilities(exploration)
    assert len(vulns) == MAX_PANELS + 6
    text = render(exploration, vulns)
    assert f"#{MAX_PANELS} error" in text and f"#{MAX_PANELS + 1} error" not in text
    assert "… 6 more vulnerabilities" in text


@settings(max_examples=40, deadline=None)
@given(explorations())
def test_every_report_renders_any_exploration(exploration: Exploration) -> None:
    vulns = find_vulnerabilities(exploration)
    text = render(exploration, vulns)
    assert ("no vulnerability found" in text) == (not vulns)
    doc = json.loads(json.dumps(to_json_dict(exploration, vulns)))
    assert len(doc["states"]) == exploration.enumerated
    assert len(doc["vulnerabilities"]) == len(vulns)
    page = render_html(exploration, vulns)
    assert page.count('<section class="vuln') == len(vulns)


def test_coverage_says_when_only_some_crash_points_were_explored() -> None:
    exploration = etcd_like()
    exploration.crash_points = exploration.crash_points[3:5]  # points 2 and 3, as --points 2:3
    exploration.judged = [j for j in exploration.judged if j.state.point in (2, 3)]
    vulns = find_vulnerabilities(exploration)
    text = render(exploration, vulns)
    assert "PARTIAL: only crash points 2..3 of -1..4 were explored" in text
    assert to_json_dict(exploration, vulns)["summary"]["coverage"]["exhaustive"] is False


def test_subsets_of_a_large_write_are_page_ranges_not_maps() -> None:
    from powercut.explorer.report.timeline import point_ranges, subset_maps

    assert subset_maps(((0, 3), ()), (0, 1, 2, 3)) == "▮▯▯▮ ▯▯▯▯"
    pages = tuple(range(64))
    assert subset_maps(((0, 1, 2, 3, 9),), pages) == "{0..3, 9}"
    assert subset_maps(tuple((i,) for i in range(30)), pages).endswith("{23} … 6 more")
    assert point_ranges([-1, 0, 1, 5]) == "-1..1, 5"
