"""The `postgres` checker: start PostgreSQL on a crash state, let it recover, read every row.

The state is the mount root of the trace; the data directory is
`workload["data_dir"]` under it. The server runs as the workload ran it
(`server`: a user namespace, its own IPC namespace, an abstract socket),
through the kit's `ServerChecker` (own process group, output in the
scratch dir, always ended). It must come up through crash recovery and
answer a query on `kv` within the time limit: an exit is `unrecoverable`
(its first PANIC or FATAL line is the signature), a query that fails on a
server that came up is `unrecoverable` too (it recovered into a broken
table), neither in time is a `hang`; then every acknowledged key must read
back its value, else `data-loss`. The server always ends with an immediate
shutdown and the group killed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pg8000.native

from powercut.explorer.checkers.base import DEFAULT_TIMEOUT
from powercut.explorer.checkers.signature import Cause
from powercut.process import Child
from powercut.targets.kit import BrokenData, Launch, ServerChecker
from powercut.targets.postgres import server
from powercut.targets.postgres.binary import POSTGRES
from powercut.targets.postgres.workloads import DATA_DIR

QUERY = "SELECT k, v FROM kv"


class PostgresChecker(ServerChecker[pg8000.native.Connection]):
    """Starts a real PostgreSQL on each state; serving with every acknowledged row is ok."""

    name = "postgres"
    ports = 0  # an abstract socket of its own, no port to race for

    def __init__(self, binary: Path, workload: Mapping[str, Any], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(binary, POSTGRES.version(Path(binary)), timeout=timeout)
        self.data_dir = str(workload.get("data_dir") or DATA_DIR)

    def describe(self) -> str:
        return f"postgres ({self.binary} {self.version})"

    def settings(self) -> str:
        return f"settings={sorted(server.CHECK_SETTINGS.items())} data_dir={self.data_dir}"

    def prepare(self, state: Path) -> None:
        data = state / self.data_dir
        if data.is_dir():
            data.chmod(0o700)  # PostgreSQL insists; the mode is not what a crash changes
            server.clear_stale_lock(data)

    def launch(self, state: Path, ports: list[int], work: Path) -> Launch:
        socket = server.socket_name()
        argv = server.argv(self.binary, state / self.data_dir, socket, server.CHECK_SETTINGS)
        return Launch(argv, env=server.environment(), cwd=work, address=socket)

    def probe(self, at: Launch, timeout: float) -> pg8000.native.Connection | None:
        return server.try_connect(at.address, max(0.1, timeout))

    def read(self, client: pg8000.native.Connection, keys: Sequence[str]
             ) -> dict[str, str | None]:
        try:
            rows = {str(k): str(v) for k, v in client.run(QUERY)}
        except server.ERRORS as e:
            # It came up, yet cannot read the table: it recovered into a broken database.
            raise BrokenData(f"{QUERY}: {_error_message(e)}") from None
        return {key: rows.get(key) for key in keys}

    def disconnect(self, client: pg8000.native.Connection) -> None:
        server.close(client)

    def stop(self, child: Child) -> None:
        server.stop(child)

    def cause(self, log: str) -> Cause | None:
        return server.cause(log)


def _error_message(error: Exception) -> str:
    """The server's message of a pg8000 error (its `M` field), else the error as text."""
    if error.args and isinstance(error.args[0], dict):
        return str(error.args[0].get("M", error))
    return str(error)
