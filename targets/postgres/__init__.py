"""The `postgres` target: PostgreSQL commits acknowledged writes, and must keep them.

Workload `postgres` (a cluster prepared before the mount, then `--writes
N` committed statements, each acknowledged by a marker) and checker
`postgres` (start the server on the state, let it recover, read every
acknowledged row back). The server is found by version (`binary`), or
given with `--pg-bin FILE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from powercut.explorer.checkers import Checker
from powercut.recorder.workload import Workload
from powercut.targets.base import Option, Target
from powercut.targets.kit import writes_option
from powercut.targets.postgres.binary import POSTGRES, UNSHARE
from powercut.targets.postgres.checker import PostgresChecker
from powercut.targets.postgres.workloads import DEFAULT_WRITES, PostgresWrites
from powercut.trace import Trace

# Each state costs a server start on a 9 MB data dir (about 0.4 s): 600 states keep a bare
# `powercut explore` of a postgres trace within a few minutes on two cores.
DEFAULT_BUDGET = 600


class PostgresTarget(Target):
    name = "postgres"
    summary = "PostgreSQL 15: committed writes (synchronous_commit=on) survive a power cut"
    default_budget = DEFAULT_BUDGET
    programs = (POSTGRES, UNSHARE)
    processes = ("postgres", "unshare")
    options = (
        Option("--pg-bin", "PostgreSQL server binary, with initdb and pg_controldata beside "
               "it [record: the newest installed; explore: an installed PostgreSQL of the "
               "version the trace was recorded with, else of its major version].",
               ("record", "explore"), ("postgres",), metavar="PATH"),
        writes_option("postgres"),
    )

    def workload(self, name: str, options: Mapping[str, Any], command: tuple[str, ...]
                 ) -> Workload:
        writes = options.get("writes")
        return PostgresWrites.with_binary(options.get("pg_bin"),
                                          writes=DEFAULT_WRITES if writes is None else writes)

    def checker(self, name: str, trace: Trace, options: Mapping[str, Any], *,
                timeout: float) -> Checker:
        return PostgresChecker(POSTGRES.matching(trace.workload, options.get("pg_bin")),
                               trace.workload, timeout=timeout)


TARGET = PostgresTarget()
