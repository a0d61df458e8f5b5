"""A network of the thread's own: a loopback of its own, the same port in every thread at once.

Two threads each bind the same fixed port on 127.0.0.1 inside
`own_network()` at the same time, and a program each starts sees the
thread's namespace; afterwards every thread is back in the process's own
network and no program of ours is left in another.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading

from powercut import namespaces

PORT = 23799


def _net() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def test_each_thread_binds_the_same_port_in_a_loopback_of_its_own() -> None:
    home = _net()
    assert namespaces.refused("net") is None  # root on Linux: the tests need it
    barrier = threading.Barrier(2, timeout=30)
    seen: dict[int, tuple[str, str, str, bool]] = {}
    failed: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with namespaces.own_network():
                inside = _net()
                with socket.socket() as server:
                    server.bind(("127.0.0.1", PORT))
                    server.listen()
                    barrier.wait()  # both hold the port now
                    child = subprocess.run(["readlink", "/proc/self/ns/net"],
                                           capture_output=True, text=True, check=True)
                    with socket.create_connection(("127.0.0.1", PORT), timeout=5):
                        pass
                    barrier.wait()
                seen[n] = (inside, child.stdout.strip(), _net(), namespaces.in_own_network())
            assert not namespaces.in_own_network() and _net() == home
        except BaseException as e:
            failed.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failed, failed
    (a, a_child, _, a_flag), (b, b_child, _, b_flag) = seen[0], seen[1]
    assert a != b and home not in (a, b)
    assert (a_child, b_child) == (a, b)  # the programs a thread starts live in its network
    assert a_flag and b_flag
    assert _net() == home
