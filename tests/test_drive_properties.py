"""The driver's law: dedup, ranking and parallelism never change a state's verdict.

For random small traces, the verdicts `explore` reports equal those of
judging every enumerated state on its own, straight from its materialised
tree, in enumeration order.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from powercut.explorer.checkers import Checker
from powercut.explorer.run.drive import explore
from powercut.explorer.verdict import Verdict
from powercut.replayer.enumeration import Enumeration
from powercut.replayer.materialise import materialise
from powercut.replayer.models import get_model
from powercut.trace import Op, TraceWriter, open_trace

PAGE = 4096


class ByContent(Checker):
    """A verdict that is a function of the tree: fails when the files' digest is odd."""

    def describe(self) -> str:
        return "by-content"

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        digest = hashlib.sha256()
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(directory)).encode() + path.read_bytes())
        odd = digest.digest()[0] % 2
        return Verdict("unrecoverable", signature="odd") if odd else Verdict("ok")


writes = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3 * PAGE),
                            st.integers(1, 2 * PAGE), st.booleans()), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes, st.integers(1, 3))
def test_explore_agrees_with_judging_every_state(ops: list[tuple[str, int, int, bool]],
                                                 workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = Path(tmp) / "t.trace"
        with TraceWriter(trace_path, argv=["t"], workload={}) as w:
            w.append("create", 1, path="a", mode=0o644)
            w.append("create", 1, path="b", mode=0o644)
            for n, (path, offset, length, sync) in enumerate(ops):
                w.append("write", 1, path=path, offset=offset, data=bytes([65 + n]) * length)
                if sync:
                    w.append("fsync", 1, path=path, datasync=False)
        trace = open_trace(trace_path)
        exploration = explore(trace, ByContent(), "lazyfs", workers=workers,
                              workdir=Path(tmp) / "work")
        expected = []
        for i, state in enumerate(Enumeration(trace, get_model("lazyfs", PAGE))):
            target = Path(tmp) / f"oracle-{i}"
            materialise(state, target)
            expected.append((state.point, state.name, ByContent().check(target, []).verdict))
        got = [(j.state.point, j.state.name, j.outcome.verdict) for j in exploration.judged]
        assert got == expected
        assert exploration.checked == exploration.distinct
        exploration.close()
        assert list((Path(tmp) / "work").iterdir()) == []
