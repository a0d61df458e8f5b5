"""The file reports: HTML (self-contained, escaped) and the LazyFS config directory."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from powercut.explorer.analysis.grouping import find_vulnerabilities
from powercut.explorer.report.htmlfile import render_html, write_html
from powercut.explorer.report.lazyfs import write_lazyfs_dir
from powercut.explorer.verdict import Verdict
from tests.test_analysis import OK, build_exploration, etcd_like, op, write

HOSTILE = '<script>alert("x")</script>\n[bold]</pre><img src=x onerror=alert(1)>'


def hostile_exploration():  # type: ignore[no-untyped-def]
    ops = [op(0, "create", "<b>f</b>"), write(1, "<b>f</b>", 0, 8192)]

    def judge(point, kept):  # type: ignore[no-untyped-def]
        if point == 1 and len(kept) == 1:
            return Verdict("unrecoverable", HOSTILE, excerpt=HOSTILE, log_tail=HOSTILE)
        return OK

    return build_exploration(ops, judge, trace="<script>t</script>.trace")


def test_html_is_self_contained_and_escapes_hostile_text(tmp_path: Path) -> None:
    exploration = hostile_exploration()
    vulns = find_vulnerabilities(exploration)
    path = tmp_path / "r.html"
    write_html(path, exploration, vulns)
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<img" not in page and "<b>f" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert not re.search(r"(src|href)=\"?(https?:)?//", page)  # nothing from the network
    assert "page subsets unrecoverable" in page and "torn-op" in page


def test_html_has_the_terminal_reports_content() -> None:
    exploration = etcd_like()
    page = render_html(exploration, find_vulnerabilities(exploration))
    for fact in [
        "13 of 16 page subsets unrecoverable",
        "▮▯▯▯",
        "EXHAUSTIVE",
        "powercut replay traces/etcd.trace --point 3",
        "fsync member/snap/db",
        "crash after #3: 13 of 16 states fail",
        "occurrence=1",
    ]:
        assert fact in page, fact


def test_lazyfs_dir_has_one_loadable_config_per_vulnerability(tmp_path: Path) -> None:
    exploration = etcd_like()
    vulns = find_vulnerabilities(exploration, lazyfs_root="/home/data-r/data.etcd")
    written = write_lazyfs_dir(tmp_path / "lazyfs", exploration, vulns)
    names = sorted(p.name for p in written)
    assert names == ["README.txt", "vuln-1-atomicity-op3.toml"]
    config = tomllib.loads((tmp_path / "lazyfs" / "vuln-1-atomicity-op3.toml").read_text())
    assert config["injection"] == [
        {
            "type": "torn-op",
            "file": "/home/data-r/data.etcd/member/snap/db",
            "persist": [1],
            "parts": 4,
            "occurrence": 1,
        }
    ]
    assert config["faults"]["fifo_path"] and config["cache"]["apply_eviction"] is False
    text = (tmp_path / "lazyfs" / "vuln-1-atomicity-op3.toml").read_text()
    replay = "powercut replay traces/etcd.trace --point 3 --keep member/snap/db:0"
    assert any(line.startswith("#") and replay in line for line in text.splitlines())
    readme = (tmp_path / "lazyfs" / "README.txt").read_text()
    assert "vuln-1-atomicity-op3.toml" in readme and "13 of 16" in readme


def test_lazyfs_config_comments_survive_hostile_signatures(tmp_path: Path) -> None:
    exploration = hostile_exploration()
    vulns = find_vulnerabilities(exploration)
    for path in write_lazyfs_dir(tmp_path, exploration, vulns):
        if path.suffix == ".toml":
            config = tomllib.loads(path.read_text())  # a newline did not escape a comment
            assert config["injection"][0]["file"] == "/tmp/lazyfs.root/<b>f</b>"
