"""The `error` verdict of a check that broke: what broke and where, for the report.

A checker that raises on a state says nothing about the state, so the
state is judged `error`; the report must still let the user see what failed
without a debugger: the exception's type and message and the innermost
frame it came from. Pure: it never re-raises or logs.
"""

from __future__ import annotations

import os
import traceback

from powercut.explorer.verdict import Evidence, Verdict


def error_verdict(exc: BaseException) -> Verdict:
    """The `error` verdict of a check that raised `exc` (its cause in excerpt and evidence).

    The signature is the exception's type only (messages hold paths and
    numbers that differ from state to state); `worker_died` marks it a broken
    check, which the pool retries once.
    """
    name = type(exc).__name__
    message = str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    excerpt = f"{name}: {message}" if message else name
    if frames:
        excerpt += f"\n  at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno} " \
                   f"in {frames[-1].name}"
    return Verdict("error", signature=f"checker error: {name}", excerpt=excerpt,
                   evidence=Evidence(error=message, exception=name, where=where,
                                     worker_died=True))
