"""How a Dask worker gets the trace: in place where it can read it, else streamed in chunks.

A real `LocalCluster`. Its workers share the driver's disk, so `ship`
sends nothing. Streamed in small chunks (the chunk size is shrunk so a
small trace makes several), a worker that cannot read the driver's path
assembles its own copy, checks its digest and explores from it; a copy
that does not match, or a trace a worker can neither read nor was sent,
is refused in one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

from powercut.errors import TraceError
from powercut.explorer.run import dask_worker
from powercut.explorer.run.dask_worker import Shipment, file_digest, ship, stream, trace_here
from powercut.trace import open_trace
from tests.dask_cluster import local_client
from tests.realparts import TRACES

TRACE = TRACES / "etcd-3.4-bootstrap.trace"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with local_client(tmp_path) as c:
        yield c


def ops_on_workers(client: Client, shipment: Shipment) -> set[int]:
    """The trace's op count as a task on each worker sees it."""
    return {client.submit(lambda s: trace_here(s).op_count, shipment, workers=[worker],
                          pure=False).result()
            for worker in client.scheduler_info()["workers"]}


def test_workers_on_the_drivers_disk_read_the_trace_in_place(client: Client) -> None:
    trace = open_trace(TRACE)
    shipment, sent_to = ship(client, trace)
    assert sent_to == [] and shipment.digest == file_digest(TRACE)
    assert ops_on_workers(client, shipment) == {trace.op_count}


def test_a_worker_that_cannot_read_the_trace_is_sent_it_in_chunks(
        client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = open_trace(TRACE)
    monkeypatch.setattr(dask_worker, "CHUNK", 1000)
    assert TRACE.stat().st_size > 3000
    digest = file_digest(TRACE)
    stream(client, TRACE, digest, list(client.scheduler_info()["workers"]))
    elsewhere = Shipment(str(tmp_path / "only-on-the-driver.trace"), digest, False)
    assert ops_on_workers(client, elsewhere) == {trace.op_count}


def test_a_trace_the_worker_cannot_get_is_refused(client: Client, tmp_path: Path) -> None:
    nowhere = Shipment(str(tmp_path / "gone.trace"), file_digest(TRACE), False)
    with pytest.raises(TraceError, match=r"cannot read the trace .*gone\.trace and was not sent"):
        ops_on_workers(client, nowhere)
    other = tmp_path / "other.trace"
    other.write_bytes(TRACE.read_bytes()[:-1] + b"\0")
    with pytest.raises(TraceError, match="differs from the driver's"):
        stream(client, other, file_digest(TRACE), list(client.scheduler_info()["workers"]))
