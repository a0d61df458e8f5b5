"""Signatures from real etcd 3.4.23 and 3.5.1 logs of torn member/snap/db states (etcd's own
grammar, `targets/etcd/logs.py`), and the engine's generic rules (Go runtime, last line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from powercut.explorer.checkers.signature import (
    find_cause,
    last_line_cause,
    normalise,
    runtime_cause,
    tail_excerpt,
)
from powercut.targets.etcd.logs import cause as etcd_cause

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("log", "signature", "first_line"), [
    ("etcd34-db-size-too-small.log", "cannot open database (file size too small)",
     "panic: cannot open database at w/data.etcd/member/snap/db (file size too small)"),
    ("etcd34-db-invalid.log", "cannot open database (invalid database)",
     "panic: cannot open database at w/data.etcd/member/snap/db (invalid database)"),
    ("etcd34-db-sigbus.log", "unexpected fault address (SIGBUS)", "unexpected fault address 0x"),
    ("etcd35-db-size-too-small.log", "failed to open database: file size too small",
     '{"level": "panic"'),
    ("etcd35-db-invalid.log", "failed to open database: invalid database", '{"level": "panic"'),
    ("etcd35-db-sigbus.log", "unexpected fault address (SIGBUS)", "unexpected fault address 0x"),
    ("etcd34-db-invalid-freelist.log", "invalid freelist page: N, page type is unknown<N>",
     "panic: invalid freelist page: 0, page type is unknown<00>"),
    ("etcd35-db-invalid-freelist.log", "invalid freelist page: N, page type is unknown<N>",
     "panic: invalid freelist page: 0, page type is unknown<00>"),
])
def test_real_etcd_logs(log: str, signature: str, first_line: str) -> None:
    cause = etcd_cause((DATA / log).read_text())
    assert cause is not None
    assert cause.signature == signature
    assert cause.excerpt.startswith(first_line)
    # The excerpt shows the cause and a few lines after, not the goroutine dump.
    assert len(cause.excerpt.splitlines()) <= 7
    assert "stacktrace" not in cause.excerpt


def test_sigbus_excerpt_names_the_signal() -> None:
    cause = etcd_cause((DATA / "etcd34-db-sigbus.log").read_text())
    assert cause is not None
    assert "fatal error: fault" in cause.excerpt
    assert "[signal SIGBUS" in cause.excerpt


def test_zap_fatal_line_joins_msg_and_error() -> None:
    log = ('{"level":"info","ts":"2026-01-01T00:00:00Z","msg":"starting"}\n'
           '{"level":"fatal","ts":"2026-01-01T00:00:01Z","caller":"etcdserver/x.go:12",'
           '"msg":"failed to recover v3 backend from snapshot",'
           '"error":"failed to find database snapshot file '
           '(snap: snapshot file doesn\'t exist)"}\n')
    cause = etcd_cause(log)
    assert cause is not None
    assert cause.signature == ("failed to recover v3 backend from snapshot: failed to find "
                               "database snapshot file (snap: snapshot file doesn't exist)")


def test_bbolt_panic_numbers_removed() -> None:
    log = ("starting\npanic: invalid freelist page: 66, page type is leaf\n\n"
           "goroutine 1 [running]:\n")
    cause = etcd_cause(log)
    assert cause is not None
    assert cause.signature == "invalid freelist page: N, page type is leaf"


def test_capnslog_critical_without_panic() -> None:
    log = ("2026-11-25 06:38:31.497084 I | embed: name = m1\n"
           "2026-11-25 06:38:31.497440 C | etcdmain: walpb: crc mismatch\n")
    cause = etcd_cause(log)
    assert cause is not None
    assert cause.signature == "walpb: crc mismatch"


def test_panic_wins_over_earlier_critical_line() -> None:
    text = (DATA / "etcd34-db-size-too-small.log").read_text()
    assert " C | mvcc/backend" in text
    cause = etcd_cause(text)
    assert cause is not None
    assert cause.excerpt.startswith("panic:")


def test_tail_excerpt_shortens_json_lines() -> None:
    line = '{"level":"info","msg":"serving peer traffic","stacktrace":"x"}'
    log = "first\n\n" + "\n".join([line] * 3) + "\n" + "y" * 1000 + "\n"
    excerpt = tail_excerpt(log, lines=2).splitlines()
    assert excerpt[0] == '{"level": "info", "msg": "serving peer traffic"}'
    assert excerpt[1] == "y" * 300 + "…"


def test_no_go_cause_in_healthy_output() -> None:
    assert etcd_cause("2026-11-25 06:38:31.497084 I | embed: name = m1\nready\n") is None


def test_any_go_program_dies_of_its_runtime_but_its_logger_is_its_own() -> None:
    """The engine knows Go's runtime (any Go program panics this way); zap and capnslog lines
    are etcd's grammar, declared by its target."""
    text = (DATA / "etcd34-db-sigbus.log").read_text()
    generic = runtime_cause(text)
    assert generic is not None and generic == etcd_cause(text)
    zap = '{"level":"fatal","msg":"failed to recover","error":"no snapshot"}\n'
    assert runtime_cause(zap) is None
    assert etcd_cause(zap) is not None


def test_last_line_for_other_programs() -> None:
    log = ("Traceback (most recent call last):\n  File \"/tmp/x/check.py\", line 12\n"
           "AssertionError: /tmp/powercut-1/state-7/file.bin is torn at 8192\n\n")
    cause = last_line_cause(log)
    assert cause is not None
    assert cause.signature == "AssertionError: <path> is torn at N"
    assert find_cause(log) == cause
    assert last_line_cause("\n \n") is None


@pytest.mark.parametrize(("raw", "normal"), [
    ("2026-11-25 06:38:31.497440 C | x", "C | x"),
    ("dial tcp 127.0.0.1:23791: connect: connection refused",
     "dial tcp <addr>: connect: connection refused"),
    ("listen tcp 127.0.0.1:2380: bind: address already in use",
     "listen tcp <addr>: bind: address already in use"),
    ("open /tmp/powercut-abc/data.etcd/member/wal: permission denied",
     "open <path>: permission denied"),
    ("goroutine 121 [running]:", "goroutine N [running]"),
    ("unexpected fault address 0x7fe6f4003000", "unexpected fault address"),
    ("request to http://127.0.0.1:2379/health timed out after 3.5s",
     "request to <url> timed out after N"),
])
def test_normalise(raw: str, normal: str) -> None:
    assert normalise(raw) == normal


@given(st.integers(0, 2**63), st.integers(0, 2**48), st.sampled_from(["a", "b/c", "/x/y/z"]))
def test_equal_failures_group(number: int, address: int, path: str) -> None:
    a = normalise(f"cannot read page {number} at {path}/db: fault at 0x{address:x}")
    b = normalise("cannot read page 7 at q/db: fault at 0x10")
    assert a == b
