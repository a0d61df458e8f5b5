"""The `postgres` checker: start PostgreSQL on a crash state, let it recover, read every row.

The state is the mount root of the trace; the data directory is
`workload["data_dir"]` under it. The server runs as the workload ran it
(`server`: a user namespace, its own IPC namespace, an abstract socket),
in its own process group, its output in the scratch dir. It must come up
through crash recovery and answer a query on `kv` within `limit()`
seconds: an exit is `unrecoverable` (its first PANIC or FATAL line is the
signature), a query that fails on a server that came up is `unrecoverable`
too (it recovered into a broken table), neither in time is a `hang`; then
every acknowledged key must read back its value, else `data-loss`. The
server always ends with an immediate shutdown and the group killed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pg8000.native

from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    exit_verdict,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
)
from powercut.explorer.checkers.signature import normalise
from powercut.explorer.verdict import Verdict
from powercut.process import Child
from powercut.targets.postgres import binary, server
from powercut.targets.postgres.workloads import DATA_DIR
from powercut.trace import Op

POLL = 0.02
QUERY = "SELECT k, v FROM kv"


class PostgresChecker(Checker):
    """Starts a real PostgreSQL on each state; serving with every acknowledged row is ok."""

    name = "postgres"
    uses_markers = True

    def __init__(self, bindir: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.bindir = Path(bindir)
        self.version = binary.version(self.bindir)
        self.data_dir = str(workload.get("data_dir") or DATA_DIR)
        self.timeout = timeout

    def describe(self) -> str:
        return f"postgres ({self.bindir} {self.version})"

    def identity(self) -> str:
        return (f"{self.describe()} binary={file_fingerprint(self.bindir / 'postgres')} "
                f"settings={sorted(server.CHECK_SETTINGS.items())} data_dir={self.data_dir} "
                f"timeout={self.timeout:g}")

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        data = directory.absolute() / self.data_dir  # the server runs in the scratch dir
        if data.is_dir():
            data.chmod(0o700)  # PostgreSQL insists; the mode is not what a crash changes
            server.clear_stale_lock(data)
        want = durability.expected(markers)
        socket = server.socket_name()
        argv = server.argv(self.bindir, data, socket, server.CHECK_SETTINGS)
        with scratch_dir(scratch) as work, Child(argv, work / "postgres.log", cwd=work,
                                                 env=server.environment()) as child:
            try:
                return self._judge(child, socket, want)
            finally:
                server.stop(child)

    def _judge(self, child: Child, socket: str, want: durability.Expectation) -> Verdict:
        started = time.monotonic()
        while True:
            left = self.limit() - (time.monotonic() - started)
            conn = server.try_connect(socket, max(0.1, left))
            if conn is not None:
                try:
                    return self._read_back(child, conn, want)
                finally:
                    server.close(conn)
            exit = child.poll()
            if exit is not None:
                return exit_verdict("unrecoverable", child, exit, server.failure_line)
            if left <= 0:
                child.kill(grace=0)  # a hung server gets no graceful exit
                return failure_verdict("hang", child, None)
            time.sleep(POLL)

    def _read_back(self, child: Child, conn: pg8000.native.Connection,
                   want: durability.Expectation) -> Verdict:
        evidence = {"argv": child.argv}
        try:
            rows = {str(k): str(v) for k, v in conn.run(QUERY)}
        except server.ERRORS as e:
            # It came up, yet cannot read the table: it recovered into a broken database.
            message = _error_message(e)
            verdict = failure_verdict("unrecoverable", child, child.poll(),
                                      evidence={"query_error": message})
            return dataclasses.replace(verdict, signature=normalise(f"{QUERY}: {message}"),
                                       excerpt=message)
        missing = durability.lost(want, rows.get)
        if missing:
            return durability.data_loss(missing, child.elapsed, evidence)
        return Verdict("ok", duration=child.elapsed, evidence=evidence)


def _error_message(error: Exception) -> str:
    """The server's message of a pg8000 error (its `M` field), else the error as text."""
    if error.args and isinstance(error.args[0], dict):
        return str(error.args[0].get("M", error))
    return str(error)
