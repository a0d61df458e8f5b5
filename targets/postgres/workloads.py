"""Workload `postgres`: a PostgreSQL server takes `writes` committed statements on the mount.

`prepare` makes the cluster on the backing directory before the mount, so
the trace records none of initdb's thousand files: initdb with 1 MiB WAL
segments, then one start to drop the two databases nobody uses
(`template0`, `postgres`: 7.5 MB each) and create the table `kv`, a clean
shutdown, and the caches and WAL segments no start needs removed. What is
left (about 9 MB) is the trace's initial tree.

`run` starts the server on `<mnt>/pgdata` and sends `writes` statements,
each its own transaction with `synchronous_commit=on`: the plan every
key-value target sends, through the kit's acknowledged-write loop (an
intent marker before each statement, an acknowledgement once its COMMIT
returned). Then an immediate shutdown (SIGQUIT: no checkpoint, the files as
a crash leaves them).
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pg8000.native

from powercut.errors import WorkloadError
from powercut.process import Child, last_lines, log_text
from powercut.recorder.workload import Markers, WorkloadResult, start
from powercut.targets.kit import Server, Write, plan_writes, polling, send_acknowledged
from powercut.targets.postgres import server
from powercut.targets.postgres.binary import POSTGRES

DEFAULT_WRITES = 20
DATA_DIR = "pgdata"
PREPARE_SECONDS = 120.0
TABLE = "CREATE TABLE kv (k text PRIMARY KEY, v text NOT NULL)"
TRIM = ("UPDATE pg_database SET datistemplate = false WHERE datname = 'template0'",
        "DROP DATABASE template0", "DROP DATABASE postgres", TABLE, "CHECKPOINT")
# While preparing only: recycle WAL segments down to two.
SMALL_WAL = ["-c", "min_wal_size=2MB", "-c", "max_wal_size=4MB"]
PUT = "INSERT INTO kv (k, v) VALUES (:k, :v) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
DELETE = "DELETE FROM kv WHERE k = :k"


def started(child: Child, socket: str) -> Server[pg8000.native.Connection]:
    """A started server, serving once a connection answers a query; stopped at once."""
    connect = polling(lambda limit: server.try_connect(socket, max(0.1, limit)), poll=0.02)
    return Server(child, connect, stop=server.stop, disconnect=server.close)


@dataclass(frozen=True)
class PostgresWrites:
    """A PostgreSQL cluster prepared before the mount, then `writes` committed statements."""

    binary: Path  # the `postgres` program (initdb and pg_controldata beside it)
    version: str
    writes: int = DEFAULT_WRITES
    name: str = "postgres"
    data_dir: str = DATA_DIR

    @classmethod
    def with_binary(cls, binary: Path | str | None = None, **fields: Any) -> Self:
        """This workload with `--pg-bin` (default: the newest PostgreSQL installed)."""
        found = POSTGRES.for_recording(binary)
        return cls(found, POSTGRES.version(found), **fields)

    def header(self) -> dict[str, Any]:
        return {"name": self.name, **POSTGRES.header(self.binary), "writes": self.writes,
                "data_dir": self.data_dir}

    def prepare(self, backing: Path) -> None:
        """A trimmed cluster in `<backing>/pgdata`, unless one is there already."""
        data = backing / self.data_dir
        if data.exists():
            return
        with tempfile.TemporaryDirectory(prefix="powercut-pg-prepare-") as tmp:
            log = Path(tmp) / "prepare.log"
            self._tool("initdb", log, "-D", str(data), "-A", "trust", "-U", server.USER,
                       "--no-instructions", "--wal-segsize=1", "--no-sync", "--locale=C",
                       "--encoding=UTF8")
            self._trim(data, log)
            control = Path(tmp) / "controldata.log"
            self._tool("pg_controldata", control, "-D", str(data))
            redo = _REDO_FILE.search(control.read_text(errors="replace"))
        for cache in ("global/pg_internal.init", "base/1/pg_internal.init",
                      "pg_stat/pgstat.stat", "postmaster.opts"):
            (data / cache).unlink(missing_ok=True)  # rebuilt or not needed by the next start
        if redo is not None:
            for segment in future_segments(data / "pg_wal", redo.group(1)):
                segment.unlink()

    def _tool(self, program: str, log: Path, *args: str) -> None:
        """Run one of PostgreSQL's programs (as the server runs) and wait for it."""
        argv = [*server.namespace(), str(self.binary.parent / program), *args]
        with start(argv, log, env=server.environment()) as child:
            exit = child.wait(PREPARE_SECONDS)
            if exit is None or exit.status != 0:
                how = exit.describe if exit else "too slow"
                raise WorkloadError(f"{program} failed ({how}): {last_lines(log)}")

    def _trim(self, data: Path, log: Path) -> None:
        socket = server.socket_name()
        argv = [*server.argv(self.binary, data, socket), *SMALL_WAL]
        with started(start(argv, log, env=server.environment()), socket) as postgres:
            conn = postgres.wait(time.monotonic() + PREPARE_SECONDS)
            if conn is None:
                raise WorkloadError(f"preparing the cluster: postgres did not serve: "
                                    f"{last_lines(log)}")
            for statement in TRIM:
                conn.run(statement)
            server.close(conn)
            postgres.client = None
            exit = server.shut_down(postgres.child, PREPARE_SECONDS)
            if exit is None or exit.status != 0:
                raise WorkloadError(f"postgres did not shut down cleanly: {last_lines(log)}")

    def run(self, mnt: Path, workdir: Path, timeout: float) -> WorkloadResult:
        log = workdir / "postgres.log"
        deadline = time.monotonic() + timeout
        data = mnt / self.data_dir
        if not data.is_dir():
            return WorkloadResult(False, f"no {self.data_dir} on the mount (prepare did not "
                                         "run)")
        socket = server.socket_name()
        child = start(server.argv(self.binary, data, socket), log, env=server.environment())
        with started(child, socket) as postgres:
            conn = postgres.wait(deadline)
            if conn is None:
                how = f"exited ({postgres.exit.describe})" if postgres.exit else "was too slow"
                return WorkloadResult(False, f"postgres {how} before it served: "
                                             f"{last_lines(log)}",
                                      exited=postgres.exit is not None)

            def request(w: Write) -> None:
                if w.value is None:
                    conn.run(DELETE, k=w.key)
                else:
                    conn.run(PUT, k=w.key, v=w.value)

            with Markers(mnt) as markers:
                failed = send_acknowledged(markers.write, plan_writes(self.writes), request,
                                           deadline=deadline, errors=server.ERRORS,
                                           why=lambda: last_lines(log))
            # A PANIC crashes the server (the postmaster then restarts it): not an answer.
            crashed = failed is not None and (
                postgres.exited() or "\nPANIC:" in f"\n{log_text(log)}")
        if failed is not None:
            return WorkloadResult(False, failed, exited=crashed)
        return WorkloadResult(True, f"postgres {self.version} committed {self.writes} writes")


def future_segments(pg_wal: Path, current: str) -> list[Path]:
    """WAL segments recycled ahead of `current` (the one holding the last checkpoint): no
    start needs them, and a server makes a new segment when it gets there."""
    return sorted(p for p in pg_wal.iterdir() if _SEGMENT.fullmatch(p.name) and p.name > current)


_SEGMENT = re.compile(r"[0-9A-F]{24}")
_REDO_FILE = re.compile(r"^Latest checkpoint's REDO WAL file:\s*([0-9A-F]{24})\s*$", re.M)
