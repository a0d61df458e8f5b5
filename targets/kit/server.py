"""A server a target starts, and the checker template of every target that starts one.

This is Jepsen's split: the kit owns the program's lifecycle (start, the
wait until it serves, port retries, timeouts, the kill, the log excerpt
and the verdict) and a target fills in what only it knows. `Server` is one
started program with its ready probe, used by workloads and checkers
alike. `ServerChecker` judges a crash state with one: a target supplies

- `launch`: the command line for its ports (and environment, directory);
- `probe` (or `connect`, when waiting is the client's own business): a
  client once the program serves, else None;
- `read`: the acknowledged keys' values, read back through the client;
- `cause`: its failure-line rule (what in its log says why it died);
- `bind_failed`: its log's words for a lost race for a port;

and, where it must, `prepare` (the state before the start) and `stop`.
The template never leaves the program running: the process group is
killed whatever happened.
"""

from __future__ import annotations

import abc
import dataclasses
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from powercut import ports as free_ports
from powercut.explorer.checkers import durability
from powercut.explorer.checkers.base import (
    DEFAULT_TIMEOUT,
    Checker,
    failure_verdict,
    file_fingerprint,
    scratch_dir,
)
from powercut.explorer.checkers.signature import Cause, normalise
from powercut.explorer.verdict import Evidence, Verdict
from powercut.process import Child, Exit, log_text
from powercut.trace import Op

C = TypeVar("C")
BIND_FAILED = re.compile(r"address already in use", re.IGNORECASE)
POLL = 0.02
EXIT_WAIT = 1.0  # after a failed request: time for a program to finish exiting, if it is


@dataclass(frozen=True)
class Launch:
    """How to start a program: its command line, environment and working directory, and
    where it will answer (its ports, or an address of its own: a socket's name)."""

    argv: list[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    ports: tuple[int, ...] = ()
    address: str = ""


class BrokenData(Exception):
    """A read the program answered with an error that says its data is broken (a query on a
    table it recovered into garbage): the state is unrecoverable, whatever it served."""


def polling(probe: Callable[[float], C | None], poll: float = POLL
            ) -> Callable[[float, Callable[[], bool]], C | None]:
    """A `connect` from a `probe(timeout)`: probe until it answers, the program exits or the
    deadline (monotonic) passes."""
    def connect(deadline: float, exited: Callable[[], bool]) -> C | None:
        while True:
            if exited():
                return None
            client = probe(max(0.05, min(1.0, deadline - time.monotonic())))
            if client is not None:
                return client
            if time.monotonic() > deadline:
                return None
            time.sleep(poll)
    return connect


class Server(Generic[C]):
    """One started program and its client: waited for until it serves, always stopped.

    `connect(deadline, exited)` returns a client once the program serves, or
    None when it exited or the deadline passed; `stop(child)` ends it (the
    default kills the group at once: a power cut, not a shutdown).
    """

    def __init__(self, child: Child, connect: Callable[[float, Callable[[], bool]], C | None],
                 stop: Callable[[Child], None] | None = None,
                 disconnect: Callable[[C], None] | None = None) -> None:
        self.child = child
        self.client: C | None = None
        self._connect = connect
        self._stop = stop
        self._disconnect = disconnect

    def wait(self, deadline: float) -> C | None:
        """The client once the program serves; None when it exited or `deadline` passed."""
        self.client = self._connect(deadline, lambda: self.child.poll() is not None)
        return self.client

    @property
    def exit(self) -> Exit | None:
        return self.child.poll()

    def exited(self, wait: float = EXIT_WAIT) -> bool:
        """Whether the program exited (or crashed) within `wait` seconds: after a request
        failed, that tells a program that gave up from one that answered with an error
        (a fault sweep reports it as the program's reaction to a failed call)."""
        return self.child.wait(wait) is not None

    def lost_port(self, pattern: re.Pattern[str] = BIND_FAILED) -> bool:
        """True when its log says it could not bind a port (another program took it first)."""
        return bool(pattern.search(log_text(self.child.log, 1 << 16)))

    def failed(self, verdict: str, rule: Callable[[str], Cause | None] | None = None,
               evidence: Evidence | None = None) -> Verdict:
        """The failing verdict of this program: a hang is killed first (no graceful exit)."""
        if verdict == "hang":
            self.child.kill(grace=0)
        exit = None if verdict == "hang" else self.exit
        return failure_verdict(verdict, self.child, exit, rule=rule, evidence=evidence)

    def close(self) -> None:
        try:
            if self.client is not None and self._disconnect is not None:
                self._disconnect(self.client)  # while the program lives: the session ends
        finally:
            self.client = None
            if self._stop is not None:
                self._stop(self.child)
            self.child.kill(grace=0)

    def __enter__(self) -> Server[C]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ServerChecker(Checker, Generic[C]):
    """Starts the program on each crash state; serving with every acknowledged key is ok."""

    uses_markers = True  # acknowledged writes are read back after recovery
    ports: ClassVar[int] = 1  # loopback ports its command line takes
    bind_failed: ClassVar[re.Pattern[str]] = BIND_FAILED
    read_errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    def __init__(self, binary: Path, version: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.binary = Path(binary)
        self.version = version
        self.timeout = timeout

    # What a target fills in.

    @abc.abstractmethod
    def launch(self, state: Path, ports: list[int], work: Path) -> Launch:
        """The command line that starts the program on `state` with these ports."""

    def probe(self, at: Launch, timeout: float) -> C | None:
        """A client once the program started as `at` serves, else None (not listening yet,
        still loading)."""
        raise NotImplementedError(f"{type(self).__name__} defines neither probe nor connect")

    def connect(self, at: Launch, deadline: float, exited: Callable[[], bool]) -> C | None:
        """A client once the program serves; None once it exited or the deadline passed."""
        return polling(lambda timeout: self.probe(at, timeout))(deadline, exited)

    @abc.abstractmethod
    def read(self, client: C, keys: Sequence[str]) -> Mapping[str, str | None]:
        """The value of each key as the program serves it (None: absent). Raises one of
        `read_errors` when it cannot answer, `BrokenData` when it says its data is broken."""

    def cause(self, log: str) -> Cause | None:
        """Why the program died, from its own log (None: the engine's generic rule)."""
        return None

    def prepare(self, state: Path) -> None:
        """Make the state startable as an operator would (never what a crash changed)."""

    def disconnect(self, client: C) -> None:
        """End the client (before the program is stopped)."""

    def stop(self, child: Child) -> None:
        """End the program; the default kills its group at once."""
        child.kill(grace=0)

    def settings(self) -> str:
        """What else a verdict depends on (flags, config), for the identity."""
        return ""

    # The template.

    def identity(self) -> str:
        return " ".join(filter(None, (self.describe(), f"binary={file_fingerprint(self.binary)}",
                                      self.settings(), f"timeout={self.timeout:g}")))

    def check(self, directory: Path, markers: Sequence[Op], *,
              scratch: Path | None = None) -> Verdict:
        want = durability.expected(markers)
        state = directory.absolute()
        self.prepare(state)
        with scratch_dir(scratch) as work:
            return free_ports.retrying(
                self.ports, lambda taken, attempt: self._run(
                    state, taken, work / f"try-{attempt}", want),
                f"{self.name} could not bind loopback ports in {{tries}} tries")

    def _run(self, state: Path, ports: list[int], work: Path,
             want: durability.Expectation) -> Verdict | None:
        """The verdict, or None when the program lost a race for its ports (try again)."""
        work.mkdir(parents=True, exist_ok=True)
        launch = dataclasses.replace(self.launch(state, ports, work), ports=tuple(ports))
        child = Child(launch.argv, work / "program.log", cwd=launch.cwd, env=launch.env)
        connect = lambda deadline, exited: self.connect(launch, deadline, exited)  # noqa: E731
        with Server(child, connect, self.stop, self.disconnect) as server:
            client = server.wait(child.started + self.limit())
            if client is not None:
                return self._read_back(server, client, want)
            if server.exit is None:
                return server.failed("hang")
            if server.lost_port(self.bind_failed):
                return None
            return server.failed("unrecoverable", self.cause)

    def _read_back(self, server: Server[C], client: C, want: durability.Expectation
                   ) -> Verdict:
        """ok if every acknowledged key reads back its last acknowledged value."""
        child = server.child
        evidence = Evidence(argv=tuple(child.argv))
        try:
            values = self.read(client, [key for key, _ in want.items()])
        except BrokenData as e:
            verdict = server.failed("unrecoverable", evidence=dataclasses.replace(
                evidence, read_error=str(e)))
            return dataclasses.replace(verdict, signature=normalise(str(e)), excerpt=str(e))
        except self.read_errors as e:
            # It served, yet cannot answer a read: it did not really recover.
            if server.exit is not None:
                return server.failed("unrecoverable", self.cause)
            return server.failed("hang", evidence=dataclasses.replace(
                evidence, read_error=f"{type(e).__name__}: {e}"))
        missing = durability.lost(want, values.get)
        if missing:
            return durability.data_loss(missing, child.elapsed, evidence)
        return Verdict("ok", duration=child.elapsed, evidence=evidence)
