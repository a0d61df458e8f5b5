"""The kit targets are built from: what every program powercut runs and judges has in common.

Jepsen's split: the kit owns the parts that must be right once for every
target, and a target's folder fills in what only its program knows.

- `program.Program`: which installed program to run, found by version and
  digest under a declared policy (`--NAME-bin FILE` overrides);
- `server.Server` and `server.ServerChecker`: a program started, waited
  for until it serves, judged and always stopped, with port retries and
  timeouts; a target supplies its command line, ready probe, key reader,
  failure-line rule and bind-failure pattern;
- `acknowledged.send_acknowledged`: the intent, request, acknowledgement
  loop every workload's writes go through, and `plan_writes`, the plan;
- `embedded`: an embedded database (a library) run in a child program for
  its workload and its checks (`child.py`).

A target also declares hooks the engine calls without naming it: its
failure-line rule (`ServerChecker.cause`, passed to `failure_verdict`),
its checkers' own evidence fields (`Checker.evidence_fields`) and, through
`Target`, what its tests need installed (`Target.missing`).
"""

from __future__ import annotations

from powercut.targets.base import Option
from powercut.targets.kit.acknowledged import Write, plan_writes, send_acknowledged
from powercut.targets.kit.program import Program
from powercut.targets.kit.server import BrokenData, Launch, Server, ServerChecker, polling

__all__ = ["BrokenData", "Launch", "Program", "Server", "ServerChecker", "Write",
           "plan_writes", "polling", "send_acknowledged", "writes_option"]


def writes_option(*workloads: str) -> Option:
    """`--writes N` for `workloads`: every target that makes acknowledged writes takes the
    same option (one flag, one noun)."""
    return Option("--writes", "Acknowledged writes the workload makes, each acknowledged by a "
                  "marker (puts and one delete; git: commits) [default: the workload's].",
                  ("record",), workloads, type=int, metavar="N", kwargs={"min": 1})
