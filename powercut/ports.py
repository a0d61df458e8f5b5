"""Free loopback TCP ports for the programs powercut starts (workloads and checkers).

A port the kernel hands out as free may still be taken by another program
before ours binds it; callers retry on "address already in use". Within
this process a port is never handed to two of our programs at once: ports
stay reserved until given back.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from powercut.errors import CheckerError

BIND_RETRIES = 4
T = TypeVar("T")

_lock = threading.Lock()
_taken: set[int] = set()


def _kernel_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def take(n: int) -> list[int]:
    """`n` distinct free ports, reserved until `give_back`."""
    with _lock:
        ports: list[int] = []
        while len(ports) < n:
            port = _kernel_free_port()
            if port not in _taken and port not in ports:
                ports.append(port)
        _taken.update(ports)
        return ports


def give_back(ports: Sequence[int]) -> None:
    with _lock:
        _taken.difference_update(ports)


@contextmanager
def reserved(n: int) -> Iterator[list[int]]:
    """`n` free ports for the duration of the block."""
    ports = take(n)
    try:
        yield ports
    finally:
        give_back(ports)


def retrying(n: int, run: Callable[[list[int], int], T | None], failure: str, *,
             backoff: float = 0.0) -> T:
    """`run(ports, attempt)` on `n` fresh ports until it returns something other than None
    (None: its program lost a race for a port), at most `BIND_RETRIES` times, sleeping
    `backoff` times the attempt number between tries; then a `CheckerError` of `failure`
    (its `{tries}` filled in)."""
    for attempt in range(BIND_RETRIES):
        with reserved(n) as ports:
            result = run(ports, attempt)
        if result is not None:
            return result
        if backoff:
            time.sleep(backoff * (attempt + 1))
    raise CheckerError(failure.format(tries=BIND_RETRIES))


def stable_port(low: int = 20000, high: int = 32000) -> int:
    """A free port below the kernel's ephemeral range (32768 up), for a port recorded in a
    trace and bound again by checkers later: no port the kernel hands out can take it."""
    while True:
        port = random.randrange(low, high)
        if port not in _taken and _bindable(port):
            return port
