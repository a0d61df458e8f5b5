"""The file reports: HTML (self-contained, escaped) and the LazyFS config directory."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from powercut.explorer.exploration import Exploration
from powercut.explorer.report.htmlfile import render_html, write_html
from powercut.explorer.report.lazyfs import write_lazyfs_dir
from powercut.explorer.verdict import Verdict
from tests.synthetic import OK, PAGE, etcd_like, make_trace, run

HOSTILE = '<script>alert("x")</script>\n[bold]</pre><img src=x onerror=alert(1)>'


def hostile_exploration(tmp_path: Path) -> Exploration:
    ops = [("create", {"path": "<b>f<i>", "mode": 0o600}),
           ("write", {"path": "<b>f<i>", "offset": 0, "data": b"q" * (2 * PAGE)})]

    def judge(d: Path, m: object) -> Verdict:
        data = (d / "<b>f<i>").read_bytes()
        if data and data.count(0):
            return Verdict("unrecoverable", HOSTILE, excerpt=HOSTILE, log_tail=HOSTILE)
        return OK

    return run(make_trace(tmp_path / "<script>t<i>.trace", ops), judge)


def test_html_is_self_contained_and_escapes_hostile_text(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    with hostile_exploration(tmp_path) as exploration:
        write_html(path, exploration)
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<img" not in page and "<b>f" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert not re.search(r"(src|href)=\"?(https?:)?//", page)  # nothing from the network
    assert "page subsets unrecoverable" in page and "torn-op" in page


def test_html_has_the_terminal_reports_content(tmp_path: Path) -> None:
    with etcd_like(tmp_path) as exploration:
        page = render_html(exploration)
    for fact in ["13 of 16 page subsets unrecoverable", "▮▯▯▯", "EXHAUSTIVE",
                 "powercut replay", "--point 3", "persist all 4 pages of write #3",
                 "crash after #3: 13 of 16 states fail", "occurrence=1", "Root causes"]:
        assert fact in page, fact


def test_lazyfs_dir_has_one_loadable_config_per_cause(tmp_path: Path) -> None:
    with etcd_like(tmp_path) as exploration:
        [cause] = exploration.causes
        written = write_lazyfs_dir(tmp_path / "lazyfs", exploration)
    name = f"cause-1-torn-write-{cause.id}.toml"
    assert sorted(p.name for p in written) == ["README.txt", name]
    config = tomllib.loads((tmp_path / "lazyfs" / name).read_text())
    [injection] = config["injection"]
    assert {k: injection[k] for k in ("type", "file", "parts", "occurrence")} == {
        "type": "torn-op", "file": "/tmp/lazyfs.root/member/snap/db", "parts": 4,
        "occurrence": 1}
    assert len(injection["persist"]) == 1  # the smallest failing subset: one page kept
    assert config["faults"]["fifo_path"] and config["cache"]["apply_eviction"] is False
    text = (tmp_path / "lazyfs" / name).read_text()
    assert any(line.startswith("#") and "powercut replay" in line for line in text.splitlines())
    readme = (tmp_path / "lazyfs" / "README.txt").read_text()
    assert name in readme and "13 of 16" in readme


def test_lazyfs_config_comments_survive_hostile_signatures(tmp_path: Path) -> None:
    with hostile_exploration(tmp_path) as exploration:
        paths = write_lazyfs_dir(tmp_path / "lz", exploration)
    tomls = [p for p in paths if p.suffix == ".toml"]
    assert tomls
    for path in tomls:
        config = tomllib.loads(path.read_text())  # a newline did not escape a comment
        assert config["injection"][0]["file"] == "/tmp/lazyfs.root/<b>f<i>"
