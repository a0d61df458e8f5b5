"""The verdict journal: durable appends, torn tails ignored, never a garbage verdict."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from powercut.explorer.store.journal import HEADER, Journal, JournalError, open_journal, scan
from powercut.explorer.store.records import decode_evidence
from powercut.explorer.verdict import Evidence, LostWrite, Verdict

HEADER_BYTES = msgpack.packb(HEADER)
VERDICTS = [
    Verdict("ok", duration=0.5),
    Verdict("unrecoverable", signature="panic: x", exit_status=2, log_tail="a\nb",
            excerpt="panic: x", evidence=Evidence(
                missing=(LostWrite("k1", "v", None), LostWrite("k2")), notes={"n": 3})),
    Verdict("hang", signal=9, evidence=Evidence(inferred=True, deadline=1.5,
                                                notes={"nested": {"a": [1, 2]}})),
]


def _write(path: Path, n: int, checker: str = "c") -> list[tuple[str, Verdict]]:
    written = []
    with Journal.open(path, checker) as journal:
        for i in range(n):
            verdict = VERDICTS[i % len(VERDICTS)]
            journal.append(f"key-{i}", verdict)
            written.append((f"key-{i}", verdict))
    return written


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    _write(path, 6)
    with Journal.open(path, "c") as journal:
        assert len(journal) == journal.loaded == 6
        assert journal.get("key-1") == VERDICTS[1]
        assert journal.get("key-2") == VERDICTS[2]
        assert journal.get("nope") is None
        journal.append("key-6", Verdict("error", evidence=Evidence(
            fields={"members": ("n2",)}, notes={"t": (1, {2}), "p": path})))
    with Journal.open(path, "c") as journal:
        assert len(journal) == 7
        evidence = journal.get("key-6").evidence
        assert evidence.fields == {"members": ("n2",)}
        assert evidence.notes == {"t": [1, [2]], "p": str(path)}


def test_evidence_of_an_older_powercut_still_reads() -> None:
    """Before evidence was typed it was a free map; a journal or cache of then reads back."""
    old = decode_evidence({"argv": ["etcd"], "missing": [{"key": "k", "value": "v",
                                                          "found": None}, "k2"],
                           "members": {"node1": "ok", "node2": "hang"}, "quorum": False,
                           "inferred": True})
    assert old.argv == ("etcd",) and old.inferred
    assert old.missing == (LostWrite("k", "v", None), LostWrite("k2"))
    assert old.fields == {"members": ("node2",)} and old.notes == {"quorum": False}


def test_other_checkers_are_kept_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    _write(path, 2, "etcd 3.4")
    _write(path, 3, "etcd 3.5")
    with Journal.open(path, "etcd 3.4") as journal:
        assert len(journal) == 2 and journal.others == 1  # key-2: only etcd 3.5 judged it
    with Journal.open(path, "etcd 3.5") as journal:
        assert len(journal) == 3 and journal.others == 0


def test_every_cut_loads_a_prefix_and_appends_follow_it(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    _write(path, 4)
    whole = path.read_bytes()
    ends = [scan(path)[1]]
    for cut in range(len(whole)):
        path.write_bytes(whole[:cut])
        records, end, _ = scan(path)
        assert [k for k, _, _ in records] == [f"key-{i}" for i in range(len(records))]
        assert end <= cut
        with Journal.open(path, "c") as journal:
            journal.append("after", VERDICTS[0])
        with Journal.open(path, "c") as journal:
            assert journal.get("after") == VERDICTS[0]
            assert len(journal) == len(records) + 1
    assert ends[0] == len(whole)


@settings(max_examples=300, deadline=None)
@example(cut=530, zeros=1, flip=509)  # once decoded to a map with a dict as a key
@given(cut=st.integers(0, 2000), zeros=st.integers(0, 5000), flip=st.integers(0, 2000))
def test_torn_tails_never_become_verdicts(tmp_path_factory: pytest.TempPathFactory, cut: int,
                                          zeros: int, flip: int) -> None:
    """A page lost (zeros) or torn anywhere past the durable prefix never yields a verdict."""
    path = tmp_path_factory.mktemp("j") / "j.journal"
    written = dict(_write(path, 8))
    whole = path.read_bytes()
    cut = min(cut + len(HEADER_BYTES), len(whole))
    damaged = bytearray(whole[:cut] + b"\0" * zeros)
    flip += len(HEADER_BYTES)  # the header is made durable when the journal is created
    if flip < len(damaged):
        damaged[flip] ^= 0x55
    path.write_bytes(bytes(damaged))
    records, _, _ = scan(path)
    for key, _, fields in records:
        with Journal.open(path, "c") as journal:
            assert journal.get(key) == written[key]
        assert fields


def test_not_a_journal_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "trace.pct"
    path.write_bytes(b"\x85important bytes")
    with pytest.raises(JournalError, match="not a powercut journal"):
        Journal.open(path, "c")
    assert path.read_bytes() == b"\x85important bytes"
    with pytest.raises(JournalError, match="directory"):
        Journal.open(tmp_path, "c")
    with pytest.raises(JournalError, match="does not exist"):
        Journal.open(tmp_path / "missing" / "j", "c")


def test_threads_share_fsyncs_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    with Journal.open(path, "c") as journal:
        def work(t: int) -> None:
            for i in range(50):
                journal.append(f"{t}-{i}", VERDICTS[i % 3])

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with Journal.open(path, "c") as journal:
        assert len(journal) == 200


def test_two_writers_share_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.journal"
    with Journal.open(path, "a") as a, Journal.open(path, "b") as b:
        a.append("k", VERDICTS[0])
        b.append("k", VERDICTS[1])
    with Journal.open(path, "a") as a, Journal.open(path, "b") as b:
        assert a.get("k") == VERDICTS[0] and b.get("k") == VERDICTS[1]


@pytest.mark.parametrize("resume", [False, True])
def test_a_journal_in_use_is_neither_replaced_nor_resumed(tmp_path: Path, resume: bool) -> None:
    path = tmp_path / "j.journal"
    with Journal.open(path, "c") as live:  # another exploration still writing it
        live.append("k", Verdict("ok"))
        with pytest.raises(JournalError, match="in use by another running exploration"), \
                open_journal(path, "c", resume=resume):
            pass
        assert live.get("k") == Verdict("ok")
    with open_journal(path, "c", resume=True) as resumed:  # its owner is gone: free again
        assert resumed.get("k") == Verdict("ok")


def _fail_first_fdatasync(monkeypatch: pytest.MonkeyPatch,
                          before_failing: Callable[[], None] = lambda: None) -> list[int]:
    """Make the first os.fdatasync fail with EIO (after `before_failing`), later ones pass."""
    calls: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            before_failing()
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return calls


def test_a_failed_fdatasync_breaks_the_journal_for_good(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """fsyncgate: after a failed writeback the kernel may have dropped the dirty pages and
    a later fdatasync succeeds without them; no later append may be called durable."""
    calls = _fail_first_fdatasync(monkeypatch)
    with Journal.open(tmp_path / "j.journal", "c") as journal:
        with pytest.raises(JournalError, match=r"cannot make journal .* durable"):
            journal.append("a", VERDICTS[0])
        for key in ("b", "c"):
            with pytest.raises(JournalError, match="durable"):
                journal.append(key, VERDICTS[1])
    assert len(calls) == 1  # nothing after the failure was ever presented as synced


def test_a_record_in_a_failed_writeback_is_not_made_durable_by_a_later_sync(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thread A's fdatasync fails while B's record is already written (same writeback);
    B, queued behind A, must not sync again and report its record durable."""
    with Journal.open(tmp_path / "j.journal", "c") as journal:
        def b_has_written() -> None:
            deadline = time.monotonic() + 60
            while journal._written < 2:
                assert time.monotonic() < deadline, "thread B never wrote its record"
                time.sleep(0.005)

        _fail_first_fdatasync(monkeypatch, b_has_written)
        outcome: dict[str, BaseException | None] = {}

        def append(key: str) -> None:
            try:
                journal.append(key, VERDICTS[0])
                outcome[key] = None
            except JournalError as e:
                outcome[key] = e

        a = threading.Thread(target=append, args=("a",))
        a.start()
        deadline = time.monotonic() + 60
        while journal._written < 1:  # A wrote and is (about to be) in fdatasync
            assert time.monotonic() < deadline, "thread A never wrote its record"
            time.sleep(0.005)
        b = threading.Thread(target=append, args=("b",))
        b.start()
        a.join()
        b.join()
    assert isinstance(outcome["a"], JournalError)
    assert isinstance(outcome["b"], JournalError), "B's record was reported durable"
