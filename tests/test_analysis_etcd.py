"""The analysis on a real exploration: the committed etcd traces, real etcd, one crash point.

Crash point 8 of the bootstrap traces is right after the 16 KiB write that
creates member/snap/db (the seed bug, etcd issue 16596). Only that point is
explored, so this stays a few seconds.
"""

from __future__ import annotations

import html
import io
import json
import tomllib
from pathlib import Path

import pytest
from rich.console import Console

from powercut.explorer.analysis.grouping import find_vulnerabilities
from powercut.explorer.report.htmlfile import render_html
from powercut.explorer.report.jsonfile import to_json_dict
from powercut.explorer.report.terminal import print_report
from powercut.explorer.run.drive import explore
from powercut.targets.etcd import binary
from powercut.targets.etcd.checker import EtcdChecker
from powercut.trace import open_trace

TRACES = Path(__file__).parent.parent / "traces"
DB = "data.etcd/member/snap/db"


@pytest.mark.etcd
@pytest.mark.parametrize("name", ["etcd-3.4-bootstrap.trace", "etcd-3.5-bootstrap.trace"])
def test_torn_db_write_of_a_real_trace_is_one_atomicity_vulnerability(name: str) -> None:
    trace = open_trace(TRACES / name)
    write = next(op for op in trace.ops() if op.op == "write")
    assert (write.seq, write.path, write.offset, len(write.data or b"")) == (8, DB, 0, 16384)
    with EtcdChecker(binary.for_trace(trace.workload, None), trace.workload) as checker:
        exploration = explore(trace, checker, "lazyfs", workers=2, points=range(8, 9))
    assert exploration.enumerated == 16 and not exploration.interrupted

    (v,) = find_vulnerabilities(exploration, lazyfs_root="/home/data-r")
    assert v.kind == "atomicity" and v.verdict == "unrecoverable"
    assert v.op is not None and (v.op.seq, v.op.path, v.op.length) == (8, DB, 16384)
    assert v.total == 16 and v.write_pages == (0, 1, 2, 3)
    assert v.failing == len(v.failing_subsets) == len(v.states) >= 8
    # As in the seed report: keeping either 8 KiB half alone fails, all or none recovers.
    assert {(0, 1), (2, 3)} <= set(v.failing_subsets)
    assert {(), (0, 1, 2, 3)} <= set(v.passing_subsets)
    assert v.summary.startswith(f"write #8, 16384 B at 0 of {DB}: {v.failing} of 16 page subsets")
    assert v.smallest.point == 8 and len(v.smallest.kept[0][1]) == 1
    assert v.lazyfs is not None and v.lazyfs.exact
    fault = tomllib.loads(v.lazyfs.toml())["injection"][0]
    assert fault["file"] == f"/home/data-r/{DB}"
    assert (fault["type"], fault["parts"], fault["occurrence"]) == ("torn-op", 4, 1)

    out = io.StringIO()
    print_report(exploration, [v], Console(file=out, width=120))
    assert f"{v.failing} of 16 page subsets unrecoverable" in out.getvalue()
    doc = json.loads(json.dumps(to_json_dict(exploration, [v])))
    assert len(doc["states"]) == 16 and doc["vulnerabilities"][0]["total"] == 16
    page = render_html(exploration, [v])
    assert all(html.escape(s.signature) in page for s in v.signatures)
