"""Fault-injection tests count what they inject; a module's last test checks the counts.

A fault test that stops injecting (a patched function no longer called, a
signal sent too late) can still pass: it then tests the happy path. So each
module keeps a `FaultLog`, its tests `add` every fault they really
injected, and its last test calls `assert_all_injected`: every kind of
fault that a test selected in this session stands for was injected at
least once, and nothing was injected that no selected test stands for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest

KindOf = str | Callable[[Mapping[str, Any]], str]


class FaultLog:
    """Faults injected by one test module, by kind."""

    def __init__(self, kinds: Mapping[str, KindOf]) -> None:
        # test function name -> the kind of fault it injects (or how to name it
        # from its parameters, for a parametrized test)
        self.kinds = dict(kinds)
        self.counts: Counter[str] = Counter()

    def add(self, kind: str, n: int = 1) -> None:
        self.counts[kind] += n

    def expected(self, request: pytest.FixtureRequest) -> set[str]:
        """The kinds the tests of the calling module selected in this session inject."""
        found = set()
        for item in request.session.items:
            if getattr(item, "module", None) is not request.module:
                continue
            kind = self.kinds.get(getattr(item, "originalname", item.name))
            if kind is None:
                continue
            callspec = getattr(item, "callspec", None)
            found.add(kind if isinstance(kind, str) else kind(callspec.params if callspec else {}))
        return found

    def assert_all_injected(self, request: pytest.FixtureRequest) -> None:
        expected = self.expected(request)
        never = sorted(k for k in expected if self.counts[k] == 0)
        assert not never, f"fault kinds never injected: {never}; injected: {dict(self.counts)}"
        stray = sorted(set(self.counts) - expected)
        assert not stray, f"faults injected by no selected test (a stale kind name?): {stray}"
