"""The fault log of the fault tests fails when a selected fault test injected nothing."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest

from tests.faultlog import FaultLog

HERE = sys.modules[__name__]


def request_for(*items: tuple[str, dict[str, Any] | None]) -> Any:
    selected = [SimpleNamespace(module=HERE, originalname=name, name=name,
                                callspec=SimpleNamespace(params=params) if params else None)
                for name, params in items]
    return SimpleNamespace(module=HERE, session=SimpleNamespace(items=selected))


def test_a_selected_fault_test_that_injected_nothing_fails_the_log() -> None:
    log = FaultLog({"test_hang": "hang", "test_signal": lambda p: p["sig"]})
    request = request_for(("test_hang", None), ("test_signal", {"sig": "SIGINT"}),
                          ("test_signal", {"sig": "SIGTERM"}))
    log.add("hang", 3)
    log.add("SIGINT")
    with pytest.raises(AssertionError, match=r"never injected: \['SIGTERM'\]"):
        log.assert_all_injected(request)
    log.add("SIGTERM")
    log.assert_all_injected(request)
    log.add("typo")
    with pytest.raises(AssertionError, match="typo"):
        log.assert_all_injected(request)


def test_kinds_of_deselected_tests_are_not_required() -> None:
    log = FaultLog({"test_hang": "hang", "test_kill": "SIGKILL"})
    log.add("hang")
    log.assert_all_injected(request_for(("test_hang", None)))
