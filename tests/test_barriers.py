"""The words of every barrier, whole: each cause kind on a synthetic trace, and one bug keeps
its kind, id and words under every model.

A barrier is what a maintainer reads once and acts on; these tests pin
the exact sentence of each kind (`torn-write`, `lost-data`,
`lost-namespace`, `ordering`, `prefix`) and of a complete prefix that
fails right after an acknowledgement (the data was not even written yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from powercut.explorer.verdict import Verdict
from powercut.trace import Op
from tests.synthetic import OK, PAGE, acked, bad, loss, make_trace, marker, run
from tests.test_analysis import (
    BLOCK,
    _pointer,
    _replaces,
    config_judge,
    log_judge,
    pointer_judge,
    torn_judge,
)

ACK = "put k1=v1 acknowledged"


def only_barrier(tmp_path: Path, ops: list[tuple[str, dict]], judge, **kw) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with run(make_trace(tmp_path / "t.trace", ops, initial=kw.pop("initial", None)), judge,
             **kw) as exploration:
        [cause] = exploration.causes
        return cause.kind, cause.barrier


def test_torn_write(tmp_path: Path) -> None:
    ops = [("create", {"path": "f", "mode": 0o600}),
           ("write", {"path": "f", "offset": 0, "data": BLOCK}),
           ("fsync", {"path": "f", "datasync": True})]
    assert only_barrier(tmp_path, ops, torn_judge) == (
        "torn-write", "persist all 4 pages of write #1 (write 16384 B at 0 of f) atomically: "
        "write to a new file and rename it, or make a torn write detectable and recover from it")


def test_lost_data_before_a_rename(tmp_path: Path) -> None:
    initial = [{"path": "cfg", "kind": "file", "mode": 0o644, "data": b"v0\n"}]
    assert only_barrier(tmp_path, _replaces(fsync=False), config_judge, initial=initial) == (
        "lost-data", "fsync cfg before rename tmp → cfg")


def test_lost_data_before_an_acknowledgement(tmp_path: Path) -> None:
    ops: list[tuple[str, dict]] = [("create", {"path": "log", "mode": 0o600}),
                                   ("write", {"path": "log", "offset": 0, "data": b"k1=v1\n"}),
                                   marker("k1", "v1"),
                                   ("fsync", {"path": "log", "datasync": True})]
    assert only_barrier(tmp_path, ops, log_judge) == (
        "lost-data", f"fsync log before acknowledging ({ACK!r})")


def dir_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    missing = [k for k in acked(markers) if not (directory / "d" / k).exists()]
    return loss(missing) if missing else OK


def test_lost_namespace(tmp_path: Path) -> None:
    """`d` is made and its entry never synced into the root (its own entries are)."""
    ops: list[tuple[str, dict]] = [("mkdir", {"path": "d", "mode": 0o755}),
                                   ("create", {"path": "d/k1", "mode": 0o644}),
                                   ("fsync", {"path": "d/k1", "datasync": False}),
                                   ("fsyncdir", {"path": "d"}),
                                   marker("k1", "v1")]
    assert only_barrier(tmp_path, ops, dir_judge, model="alice") == (
        "lost-namespace", "fsync the directory (the mount root) after mkdir d and before "
        f"acknowledging ({ACK!r})")


def test_ordering(tmp_path: Path) -> None:
    assert only_barrier(tmp_path, _pointer(fsync_a=False), pointer_judge) == (
        "ordering", "fsync a before write to b")


def half_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    if (directory / "half").exists() and not (directory / "done").exists():
        return bad("half done")
    return OK


def test_prefix(tmp_path: Path) -> None:
    ops = [("create", {"path": "half", "mode": 0o600}),
           ("create", {"path": "done", "mode": 0o600})]
    assert only_barrier(tmp_path, ops, half_judge) == (
        "prefix", "make a crash right after op #0 (create half) recoverable: the program must "
        "cope with every operation before it durable and nothing after it")


def test_prefix_right_after_an_acknowledgement_names_the_write_after_it(tmp_path: Path) -> None:
    """Acknowledged before the data was written at all: no fsync could have saved it."""
    ops: list[tuple[str, dict]] = [("create", {"path": "log", "mode": 0o600}),
                                   marker("k1", "v1"),
                                   ("write", {"path": "log", "offset": 0, "data": b"k1=v1\n"}),
                                   ("fsync", {"path": "log", "datasync": True})]
    assert only_barrier(tmp_path, ops, log_judge) == (
        "prefix", "write and fsync the acknowledged data before acknowledging: the "
        f"acknowledgement {ACK!r} (op #1) came before that data reached the file system at "
        "all (its first write after it: op #2, write 6 B at 0 of log), so no fsync could have "
        "saved it")


# ------------------------------------------------------------ one bug, one id, every model

def notes_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    missing = [k for k, v in acked(markers).items()
               if not (directory / "notes" / k).exists()
               or (directory / "notes" / k).read_text() != v]
    return loss(missing) if missing else OK


def _notes() -> list[tuple[str, dict]]:
    """Each note written to a temp file, renamed into place, the directory synced, then
    acknowledged: the temp file is never synced. The directory itself is synced into the
    root, so only the lost data is a cause under every model."""
    ops: list[tuple[str, dict]] = [("mkdir", {"path": "notes", "mode": 0o755}),
                                   ("fsyncdir", {"path": ""})]
    for n in range(2):
        tmp = f"notes/.n{n}.tmp"
        ops += [("create", {"path": tmp, "mode": 0o644}),
                ("write", {"path": tmp, "offset": 0, "data": f"note {n}".encode()}),
                ("rename", {"src": tmp, "dst": f"notes/n{n}", "flags": 0}),
                ("fsyncdir", {"path": "notes"}),
                marker(f"n{n}", f"note {n}")]
    return ops


def test_unsynced_temp_file_is_lost_data_with_one_id_under_every_model(tmp_path: Path) -> None:
    trace = make_trace(tmp_path / "t.trace", _notes())
    found = {}
    for model in ("lazyfs", "ext4-ordered", "alice"):
        with run(trace, notes_judge, model=model) as exploration:
            [cause] = exploration.causes
            found[model] = (cause.id, cause.kind, cause.roles, cause.barrier)
    assert len(set(found.values())) == 1, found
    assert found["alice"][1:] == (
        "lost-data", ("notes/n<n>",), "fsync notes/n<n> before acknowledging ('put n0=note 0 "
        "acknowledged')")


@pytest.mark.parametrize("model", ["lazyfs", "alice"])
def test_a_replace_loses_data_not_an_ordering(tmp_path: Path, model: str) -> None:
    """Data lost while the rename naming its file persisted is lost data (the fsync goes
    before the rename), under a model that can lose the rename too."""
    ops: list[tuple[str, dict]] = [("create", {"path": "tmp", "mode": 0o644}),
                                   ("write", {"path": "tmp", "offset": 0, "data": b"v1\n"}),
                                   ("rename", {"src": "tmp", "dst": "cfg", "flags": 0})]
    with run(make_trace(tmp_path / "t.trace", ops), config_ok_if_absent, model=model) as ex:
        assert [(c.kind, c.barrier) for c in ex.causes] == [
            ("lost-data", "fsync cfg before rename tmp → cfg")]


def config_ok_if_absent(directory: Path, markers: Sequence[Op]) -> Verdict:
    cfg = directory / "cfg"
    return OK if not cfg.exists() or cfg.read_bytes() == b"v1\n" else bad("config corrupt")


assert PAGE == 4096


def ref_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    ref = directory / "ref"
    missing = [k for k, v in acked(markers).items()
               if not ref.exists() or ref.read_text() != v]
    return loss(missing) if missing else OK


def test_a_journal_cut_names_the_lost_entry_not_the_later_ones_it_takes(tmp_path: Path) -> None:
    """Under ext4-ordered losing the rename loses every later journal entry too: the cause
    names the rename alone, whichever of them a failing state also lost."""
    ops: list[tuple[str, dict]] = [("create", {"path": "tmp", "mode": 0o644}),
                                   ("write", {"path": "tmp", "offset": 0, "data": b"v1"}),
                                   ("fsync", {"path": "tmp", "datasync": False}),
                                   ("rename", {"src": "tmp", "dst": "ref", "flags": 0}),
                                   ("mkdir", {"path": "other1", "mode": 0o755}),
                                   ("mkdir", {"path": "other2", "mode": 0o755}),
                                   marker("k1", "v1")]
    with run(make_trace(tmp_path / "t.trace", ops), ref_judge, model="ext4-ordered") as ex:
        [cause] = ex.causes
        assert cause.culprit.lost == ("#3", "#4", "#5")  # what the journal cut takes
        assert (cause.kind, cause.roles, [o.seq for o in cause.ops]) == (
            "lost-namespace", ("ref",), [3])
        assert cause.barrier == ("fsync the directory (the mount root) after rename tmp → ref "
                                 f"and before acknowledging ({ACK!r})")


def snap_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    snap, log = directory / "snap", directory / "log"
    if log.exists() and (not snap.exists() or snap.read_bytes() != b"snapshot"):
        return bad("a log without its snapshot")
    return OK


def test_data_lost_while_a_later_create_persisted_is_lost_data_everywhere(
        tmp_path: Path) -> None:
    """lazyfs makes the create durable at once (no ordering partner to find); the weaker
    models find it as a partner. The same bug: lost data, one id, the same words."""
    ops: list[tuple[str, dict]] = [("create", {"path": "snap", "mode": 0o644}),
                                   ("write", {"path": "snap", "offset": 0, "data": b"snapshot"}),
                                   ("create", {"path": "log", "mode": 0o644})]
    trace = make_trace(tmp_path / "t.trace", ops)
    found = {}
    for model in ("lazyfs", "ext4-ordered", "alice"):
        with run(trace, snap_judge, model=model) as exploration:
            found[model] = {(c.id, c.kind, c.barrier) for c in exploration.causes}
    [data] = found["lazyfs"]
    assert data[1:] == ("lost-data", "fsync snap before create log")
    assert found["ext4-ordered"] == {data}
    assert data in found["alice"]  # beside alice's own: the create of snap lost


def test_an_ordering_of_entries_names_the_directory_to_fsync(tmp_path: Path) -> None:
    """Under alice the create of `snap` may be lost while the later create of `log` persists:
    the fix is an fsync of the directory holding `snap`, not of `snap` itself."""
    ops: list[tuple[str, dict]] = [("mkdir", {"path": "d", "mode": 0o755}),
                                   ("create", {"path": "d/snap", "mode": 0o644}),
                                   ("write", {"path": "d/snap", "offset": 0, "data": b"snapshot"}),
                                   ("fsync", {"path": "d/snap", "datasync": False}),
                                   ("fsyncdir", {"path": ""}),
                                   ("create", {"path": "log", "mode": 0o644})]
    with run(make_trace(tmp_path / "t.trace", ops), snap_in_d_judge, model="alice") as ex:
        [cause] = [c for c in ex.causes if c.kind == "ordering"]
        assert cause.barrier == "fsync the directory d after create d/snap and before create log"


def snap_in_d_judge(directory: Path, markers: Sequence[Op]) -> Verdict:
    snap, log = directory / "d" / "snap", directory / "log"
    if log.exists() and (not snap.exists() or snap.read_bytes() != b"snapshot"):
        return bad("a log without its snapshot")
    return OK
