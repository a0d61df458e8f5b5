"""How powercut runs redis-server: its command line, readiness, client calls and why it stopped.

One command line for the workload and the checker (no config file): AOF
on with the recorded `appendfsync`, RDB snapshots off (`--save ""`), the
log on stdout, bound to 127.0.0.1. Ready means PING answers PONG; while
Redis loads its AOF it answers `-LOADING`, which is waiting, not failing.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from powercut.explorer.checkers.signature import Cause, normalise
from powercut.targets.kit import Program
from powercut.targets.redis.resp import Connection, RedisReplyError

PROGRAM = Program("redis-server", "redis", r"\bv=(\d[\w.]*)", "apt-get install redis-server",
                  places=("/usr/bin/redis-server",))
APPENDFSYNC = ("always", "everysec", "no")
# `pid:role day month year time level message`, level one of . - * #
_LINE = re.compile(r"^\d+:[A-Z] \d{2} \w{3} \d{4} [\d:.]+ ([.*#-]) (.*)$")


def argv(binary: Path, data_dir: Path, port: int, appendfsync: str) -> list[str]:
    return [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--daemonize", "no", "--supervised", "no", "--protected-mode", "yes",
            "--appendonly", "yes", "--appendfsync", appendfsync, "--save", "",
            "--logfile", "", "--loglevel", "notice"]


def probe(port: int, timeout: float) -> Connection | None:
    """A connection once PING answers PONG (None: not listening yet, or still loading)."""
    try:
        conn = Connection(port, timeout)
    except OSError:
        return None
    try:
        if conn.call("PING") == "PONG":
            return conn
    except OSError:
        pass
    conn.close()
    return None


def call(conn: Connection, *args: str) -> str | None:
    """A command whose reply is a string or nil; an error reply raises RedisReplyError."""
    reply = conn.call(*args)
    if isinstance(reply, RedisReplyError):
        raise reply
    if isinstance(reply, int):
        return str(reply)
    if reply is not None and not isinstance(reply, str):
        raise RedisReplyError(f"{args[0]}: unexpected reply {reply!r}")
    return reply


def close(conn: Connection) -> None:
    with contextlib.suppress(OSError):
        conn.close()


def cause(log: str) -> Cause | None:
    """Why Redis stopped: its last log line with a message, without the pid and time
    prefix (a fatal error is logged last, e.g. "Bad file format reading the append only
    file ...")."""
    lines = [m.group(2).strip() for m in map(_LINE.match, log.splitlines()) if m]
    lines = [text for text in lines if text]
    if not lines:
        return None
    return Cause(lines[-1], normalise(lines[-1]), "\n".join(lines[-6:]))
