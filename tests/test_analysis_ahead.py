"""Explanations asked ahead: side by side on the pool, and the same causes as one at a time.

A log whose every put is acknowledged before its fsync, under `alice`:
hundreds of failing states over many crash points, almost all explained
by the first culprit found, one confirming check per crash point (the
budget leaves most of them unexplored). Asked
ahead (`analysis.ahead`), those checks go to the pool together; the causes,
their states and the checks spent must be exactly those of the walk that
asks them one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from powercut.explorer.analysis import ahead, attribute
from powercut.explorer.analysis.minimise import Asker
from powercut.explorer.run import oracle
from powercut.explorer.store.verdicts import Outcome
from powercut.explorer.verdict import Verdict
from powercut.trace import Op
from tests.synthetic import OK, acked, loss, make_trace, marker, run

BUDGET = 150  # fewer states than the points: most confirming checks are new ones


def log_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    log = directory / "log"
    text = log.read_text() if log.exists() else ""
    missing = [k for k, v in acked(markers).items() if f"{k}={v}\n" not in text]
    return loss(missing) if missing else OK


def _puts(n: int) -> list[tuple[str, dict]]:
    ops: list[tuple[str, dict]] = [("create", {"path": "log", "mode": 0o600}),
                                   ("fsyncdir", {"path": ""})]
    offset = 0
    for i in range(n):
        line = f"k{i}=v{i}\n".encode()
        ops += [("write", {"path": "log", "offset": offset, "data": line}),
                marker(f"k{i}", f"v{i}"), ("fsync", {"path": "log", "datasync": True})]
        offset += len(line)
    return ops


def _causes(ex) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [(c.id, c.kind, c.points, c.failing, c.culprit) for c in ex.causes]


def test_asked_ahead_the_causes_and_checks_are_those_of_one_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = make_trace(tmp_path / "t.trace", _puts(30))
    batches: list[int] = []
    judge = oracle.PoolOracle.judge

    def counting(self, requests, *, full=False):  # type: ignore[no-untyped-def]
        before = self.checks
        out = judge(self, requests, full=full)
        batches.append(self.checks - before)
        return out

    monkeypatch.setattr(oracle.PoolOracle, "judge", counting)
    with run(trace, log_judge, model="alice", budget=BUDGET) as ahead:
        asked_ahead = (_causes(ahead), ahead.analysis.checks if ahead.analysis else None)
        assert ahead.causes
    assert max(batches) > 1, batches  # checks of the analysis went to the pool together
    batches.clear()
    monkeypatch.setattr(attribute, "ask_ahead", lambda attributor, upcoming: 1)
    with run(trace, log_judge, model="alice", budget=BUDGET) as alone:
        one_at_a_time = (_causes(alone), alone.analysis.checks if alone.analysis else None)
    assert max(batches) <= 1
    assert asked_ahead == one_at_a_time



class _Judged:
    """An oracle that has judged everything already: its answers are all known."""

    checks = 0

    def pending(self, point: int) -> object:
        return point

    def key(self, pending: object, lost: frozenset[int]) -> str:
        return f"{pending}:{sorted(lost)}"

    def known(self, requests: Sequence[tuple[object, frozenset[int]]]) -> list[Outcome]:
        return [Outcome("data-loss", "lost") for _ in requests]

    def judge(self, requests: Sequence[tuple[object, frozenset[int]]]) -> list[Outcome]:
        raise AssertionError("a known answer is never judged again")


def test_the_look_ahead_answers_from_what_is_known_once_the_budget_is_spent() -> None:
    """With the analysis's checks spent, the explanation still asks what is judged already
    (free); through the look-ahead's probe too (it once had no `known`: git's three-model
    exploration stopped with an AttributeError)."""
    probe = ahead._Probe(_Judged())
    asker = Asker(probe, 0)  # type: ignore[arg-type]
    assert asker.fails(1, frozenset({2}), "data-loss")  # type: ignore[arg-type]
    assert probe.key(1, frozenset({2})) == "1:[2]"  # type: ignore[arg-type]
