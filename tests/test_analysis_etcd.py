"""Root causes on real explorations: the committed etcd traces, real etcd.

Crash point 8 of the bootstrap traces is right after the 16 KiB write that
creates member/snap/db (the seed bug, etcd issue 16596); exploring only
that point takes a few seconds. The whole bootstrap gives exactly its two
causes: that torn write, and the hang from a complete prefix after op #17.
"""

from __future__ import annotations

import html
import io
import json
import tomllib
from pathlib import Path

import pytest
from rich.console import Console

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
def test_torn_db_write_of_a_real_trace_is_one_torn_write_cause(name: str) -> None:
    trace = open_trace(TRACES / name)
    write = next(op for op in trace.ops() if op.op == "write")
    assert (write.seq, write.path, write.offset, len(write.data or b"")) == (8, DB, 0, 16384)
    with (EtcdChecker(binary.ETCD.matching(trace.workload, None), trace.workload) as checker,
          explore(trace, checker, "lazyfs", workers=2, points=range(8, 9)) as exploration):
        assert exploration.enumerated == 16 and not exploration.interrupted
        (c,) = exploration.causes
        assert (c.kind, c.verdict, c.roles) == ("torn-write", "unrecoverable", (DB,))
        assert c.torn is not None and c.torn.write.seq == 8 and c.torn.pages == (0, 1, 2, 3)
        assert c.failing == len(c.torn.failing) == 12
        # As in the seed report: keeping either 8 KiB half alone fails, all or none recovers.
        assert {(0, 1), (2, 3)} <= set(c.torn.failing)
        assert set(c.torn.passing) == {(), (0, 1, 2, 3), (0, 2, 3), (1, 2, 3)}
        assert c.summary.startswith(f"write #8, 16384 B at 0 of {DB}: 12 of 16 page subsets")
        assert c.culprit.point == 8
        assert c.lazyfs is not None and c.lazyfs.exact
        fault = tomllib.loads(c.lazyfs.toml())["injection"][0]
        assert fault["file"] == f"/tmp/lazyfs.root/{DB}"
        assert (fault["type"], fault["parts"], fault["occurrence"]) == ("torn-op", 4, 1)
        assert len(fault["persist"]) == 1
        assert exploration.analysis.checks == 0  # every question answered by the exploration

        out = io.StringIO()
        print_report(exploration, Console(file=out, width=120))
        assert "12 of 16 page subsets unrecoverable" in out.getvalue()
        doc = json.loads(json.dumps(to_json_dict(exploration)))
        assert len(doc["states"]) == 16 and doc["causes"][0]["failing"] == 12
        page = render_html(exploration)
        assert all(html.escape(s.signature) in page for s in c.signatures)
