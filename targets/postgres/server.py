"""Running a PostgreSQL server on a data directory: its command line, readiness and shutdown.

PostgreSQL refuses to run as root, and a recording mount made by root
without `allow_other` admits no other user. So the server runs in a user
namespace that maps the caller (root) to the `postgres` uid (`unshare
--user --map-user`): inside, root-owned files look like its own, so it
starts on the mount and on a root-owned crash state with no chown, and the
kernel still sees uid 0 at the FUSE mount. The namespace also gets its own
IPC namespace and all shared memory is System V (`dynamic_shared_memory_type
=sysv`), so whatever segment a killed server leaves dies with its last
process: nothing is left in /dev/shm or the host's IPC tables.

The settings keep every durability guarantee on (fsync, synchronous_commit,
full_page_writes) and only stop background writers (checkpoints,
autovacuum, bgwriter) from adding writes and nondeterminism; `prepare`
runs its one start with them too (a different `wal_level` would make the
recorded start log a parameter change). Only the checker's server has
fsync off (`CHECK_SETTINGS`). The server listens only on a Unix socket in
the abstract namespace, named afresh for each server: no file anywhere, no
port to race for.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import signal
from collections.abc import Mapping
from pathlib import Path

import pg8000.native

from powercut.explorer.checkers.signature import Cause, line_cause
from powercut.process import Child, Exit

DATABASE = "template1"  # the only database left once `prepare` trims the cluster
USER = "postgres"
PORT = 5432  # names the socket only: every server has a socket name of its own
SHUTDOWN_SECONDS = 5.0

SETTINGS = {
    "listen_addresses": "",
    "fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
    "wal_sync_method": "fdatasync",
    "wal_level": "minimal", "max_wal_senders": "0",  # less WAL, the same crash safety
    "autovacuum": "off",  # no background table writes
    "checkpoint_timeout": "1d", "max_wal_size": "1GB",  # no checkpoint mid-workload
    "bgwriter_lru_maxpages": "0",  # the background writer writes no page
    "shared_buffers": "16MB", "huge_pages": "off",
    "dynamic_shared_memory_type": "sysv",  # dies with the private IPC namespace
    "logging_collector": "off", "log_min_messages": "warning",
    "log_line_prefix": "",  # no timestamp or pid: equal failures print equal lines
}
# The checker's own server: what it recovers does not depend on fsync, which only makes its
# own later writes durable; off, it skips fsyncing the whole data dir before crash recovery
# (SyncDataDirectory: 400 files a state).
CHECK_SETTINGS = {**SETTINGS, "fsync": "off"}


def environment() -> dict[str, str]:
    """The caller's environment without PG* variables (they would change what the server or
    initdb does), in UTC (initdb writes the time zone into the config) and the C locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return {**env, "TZ": "UTC", "LC_ALL": "C"}


def namespace() -> list[str]:
    """The `unshare` prefix: a user namespace (root mapped to `postgres`) and an IPC one."""
    if os.geteuid() != 0:
        return ["unshare", "--user", "--map-current-user", "--ipc"]
    try:
        pw = pwd.getpwnam(USER)
        uid, gid = pw.pw_uid, pw.pw_gid
    except KeyError:  # no postgres user: any unprivileged id will do inside the namespace
        uid = gid = 65534
    return ["unshare", "--user", f"--map-user={uid}", f"--map-group={gid}", "--ipc"]


def socket_name() -> str:
    """A fresh abstract socket "directory" (PostgreSQL 14 and later: `-k @NAME`)."""
    return f"powercut-pg-{os.getpid()}-{secrets.token_hex(8)}"


def argv(postgres: Path, data: Path, socket: str,
         settings: Mapping[str, str] = SETTINGS) -> list[str]:
    cmd = [*namespace(), str(postgres), "-D", str(data), "-k", f"@{socket}", "-p", str(PORT)]
    for name, value in settings.items():
        cmd += ["-c", f"{name}={value}"]
    return cmd


# What a client sees of a server that is not up yet, went away, or refused a statement.
ERRORS = (OSError, pg8000.native.InterfaceError, pg8000.native.DatabaseError)


def connect(socket: str, timeout: float) -> pg8000.native.Connection:
    return pg8000.native.Connection(USER, unix_sock=f"\0{socket}/.s.PGSQL.{PORT}",
                                    database=DATABASE, timeout=timeout)


def try_connect(socket: str, timeout: float) -> pg8000.native.Connection | None:
    """A connection once the server accepts queries, else None (not listening yet, or still
    "starting up" in crash recovery)."""
    try:
        conn = connect(socket, timeout)
    except ERRORS:
        return None
    try:
        conn.run("SELECT 1")
    except ERRORS:
        close(conn)
        return None
    return conn


def close(conn: pg8000.native.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(*ERRORS):
            conn.close()


def stop(child: Child) -> None:
    """Immediate shutdown (SIGQUIT to the postmaster: no checkpoint, as after a crash), then
    the whole group killed whatever it did."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGQUIT)
        child.wait(SHUTDOWN_SECONDS)
    child.kill(grace=0)


def shut_down(child: Child, limit: float) -> Exit | None:
    """A clean shutdown (SIGINT: "fast", with a shutdown checkpoint); how the server ended,
    None if not within `limit` seconds. The group is killed either way."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGINT)
    exit = child.wait(limit)
    child.kill(grace=0)
    return exit


_PID_LINE = re.compile(rb"\s*(\d+)")


def clear_stale_lock(data: Path) -> None:
    """Remove a `postmaster.pid` naming a process, as a reboot would make it stale.

    The recorded postmaster is dead, but its PID may belong to another
    process now, and then PostgreSQL refuses to start ("lock file already
    exists"): the verdict must not depend on PID reuse. A lock file that
    names no process (empty or garbled by the crash) is left for PostgreSQL
    to judge: that is the state the crash left.
    """
    lock = data / "postmaster.pid"
    try:
        head = lock.read_bytes()[:32]
    except OSError:
        return
    m = _PID_LINE.match(head)
    if m and int(m.group(1)) > 0:
        lock.unlink()


_FAILURE = re.compile(r"^(?P<level>PANIC|FATAL):\s+(?P<msg>.+)$")
# What the server tells a client it turns away while it recovers or stops: never the cause.
_TURNED_AWAY = re.compile(r"^the database system is (?:starting up|shutting down|"
                          r"not (?:yet )?accepting connections|in recovery mode)")


def cause(log: str) -> Cause | None:
    """The message of a server log's first PANIC, else its first FATAL (but the ones that
    turn a client away while the server starts)."""
    found: tuple[str, int] | None = None
    for i, line in enumerate(log.splitlines()):
        m = _FAILURE.match(line.strip())
        if m is None or _TURNED_AWAY.match(m.group("msg")):
            continue
        if m.group("level") == "PANIC":
            return line_cause(log, (m.group("msg"), i))
        found = found or (m.group("msg"), i)
    return line_cause(log, found)

