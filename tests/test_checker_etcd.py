"""The etcd checker on real etcd 3.4 and 3.5: a healthy data dir is ok, a torn db is not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from powercut.errors import CheckerError
from powercut.process import live_children
from powercut.targets.etcd import binary
from powercut.targets.etcd.checker import EtcdChecker

PAGE = 4096
WORKLOAD = {"data_dir": "data.etcd", "member_name": "m1"}

# What the real binaries print when member/snap/db holds only some pages of
# bbolt's first 16 KiB write (the rest never reached the disk), established
# by running them: pages 0-1 are the meta pages, 2 the freelist, 3 the root leaf.
TORN = {
    "3.4": {(0,): "cannot open database (file size too small)",
            (1,): "unexpected fault address (SIGBUS)",
            (2, 3): "cannot open database (invalid database)"},
    "3.5": {(0,): "failed to open database: file size too small",
            (1,): "unexpected fault address (SIGBUS)",
            (2, 3): "failed to open database: invalid database"},
}


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory: pytest.TempPathFactory, etcd_bins: dict[str, Path]) -> Path:
    """A data dir made by a real etcd 3.4 bootstrap (an empty dir is a fresh start: ok)."""
    root = tmp_path_factory.mktemp("etcd-healthy")
    verdict = EtcdChecker(etcd_bins["3.4"], WORKLOAD).check(root, [])
    assert verdict.verdict == "ok", verdict
    assert (root / "data.etcd" / "member" / "snap" / "db").stat().st_size >= 4 * PAGE
    return root


@pytest.mark.etcd
@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_healthy_data_dir_is_ok(version: str, etcd_bins: dict[str, Path], bootstrapped: Path,
                                tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(bootstrapped, state)
    checker = EtcdChecker(etcd_bins[version], WORKLOAD, timeout=10)
    assert checker.describe() == f"etcd ({etcd_bins[version]} {checker.version})"
    assert checker.version.startswith(version)
    verdict = checker.check(state, [], scratch=tmp_path / "scratch")
    assert verdict.verdict == "ok", verdict
    assert live_children() == 0


@pytest.mark.etcd
@pytest.mark.parametrize("version", ["3.4", "3.5"])
@pytest.mark.parametrize("kept", [(0,), (1,), (2, 3)])
def test_torn_db_is_unrecoverable(version: str, kept: tuple[int, ...], etcd_bins: dict[str, Path],
                                  bootstrapped: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(bootstrapped, state)
    db = state / "data.etcd" / "member" / "snap" / "db"
    whole = db.read_bytes()
    torn = bytearray((max(kept) + 1) * PAGE)  # a kept page past the durable end extends the file
    for page in kept:
        torn[page * PAGE:(page + 1) * PAGE] = whole[page * PAGE:(page + 1) * PAGE]
    db.write_bytes(bytes(torn))
    verdict = EtcdChecker(etcd_bins[version], WORKLOAD).check(state, [], scratch=tmp_path / "s")
    assert verdict.verdict == "unrecoverable"
    assert verdict.signature == TORN[version][kept]
    assert verdict.exit_status == 2  # Go exits 2 on panic and on a fatal runtime error
    assert verdict.excerpt
    assert live_children() == 0


@pytest.mark.etcd  # looks among the installed etcds (their --version)
def test_missing_binary_is_a_checker_error(tmp_path: Path) -> None:
    with pytest.raises(CheckerError, match=r"etcd 9\.9\.9, which is not on this.*--etcd-bin"):
        binary.ETCD.matching({"etcd_bin": str(tmp_path / "etcd"), "etcd_version": "9.9.9"}, None)
    with pytest.raises(CheckerError, match="not an executable"):
        binary.ETCD.matching({}, tmp_path / "etcd")
    assert binary.ETCD.matching({}, None) == binary.distro_etcd()


@pytest.mark.etcd
def test_binary_found_by_version_not_by_recorded_path(tmp_path: Path,
                                                      etcd_bins: dict[str, Path]) -> None:
    """A trace recorded on another machine (or in a clone elsewhere) names a path that is not
    here: the etcd of its version is found among those installed with powercut."""
    gone = str(tmp_path / "elsewhere" / ".venv" / "etcd")
    assert binary.ETCD.matching({"etcd_bin": gone, "etcd_version": "3.5.1"}, None) == \
        etcd_bins["3.5"].resolve()
    assert binary.ETCD.matching({"etcd_bin": gone, "etcd_version": "3.4.23"}, None) == \
        etcd_bins["3.4"].resolve()
    digest = binary.ETCD.digest(etcd_bins["3.4"])
    assert binary.ETCD.matching({"etcd_version": "3.4.23", "etcd_sha256": digest}, None) == \
        etcd_bins["3.4"].resolve()
    with pytest.raises(CheckerError, match="sha256"):
        binary.ETCD.matching({"etcd_version": "3.4.23", "etcd_sha256": "0" * 64}, None)


@pytest.mark.etcd
def test_port_taken_by_another_program_is_retried(etcd_bins: dict[str, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from powercut import ports

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        real_take = ports.take
        calls: list[list[int]] = []

        def take(n: int) -> list[int]:
            ports = [taken, *real_take(n)[1:]] if not calls else real_take(n)
            calls.append(ports)
            return ports

        monkeypatch.setattr(ports, "take", take)
        verdict = EtcdChecker(etcd_bins["3.5"], WORKLOAD).check(tmp_path / "state", [],
                                                                 scratch=tmp_path / "s")
    assert verdict.verdict == "ok", verdict
    assert len(calls) == 2
    assert "address already in use" in (tmp_path / "s" / "try-0" / "program.log").read_text()
