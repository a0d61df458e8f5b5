"""Session-wide guards: the real parts must be here, and nothing may be left behind.

Here at the top of the repository, so they hold for every test: the
engine's (`tests/`), the examples, and each target's own, which live in its
folder (`targets/NAME/tests/`) and are imported as the modules of the
installed package they are (`powercut.targets.NAME.tests...`), never twice
under another name.

Every test runs with TMPDIR pointing at a directory of this session, so any
temp dir, mount or process powercut leaks can be attributed to the test
that leaked it. After each test: no FUSE mount under that directory, no
target program (what each target declares it starts, and the kit's child
program of embedded databases) descended from this test process, and no
orphaned shared memory segment the test made. At the end: powercut left no
temp directory behind. A missing /dev/fuse, etcd or target program fails
the run when a selected test needs it, and always under CI (it never
skips: CI must not turn green without the real parts). No kernel file
system stays mounted and no loop device stays attached under it either.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from powercut import guard, targets
from powercut.kernelfs import loop
from powercut.kernelfs.mounting import mount_points, unmount_under
from powercut.recorder.mount import fuse_mounts
from powercut.targets.kit.embedded import CHILD
from tests.realparts import PARTS, REPO, etcd_binaries, missing_parts, program_parts

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="powercut-tests-"))
os.environ["TMPDIR"] = str(_SESSION_TMP)
tempfile.tempdir = None  # make tempfile re-read TMPDIR


def pytest_collection_finish(session: pytest.Session) -> None:
    """Refuse to start when a selected test needs a real part that is missing.

    A test that needs FUSE is marked `fuse`, one that needs etcd `etcd`
    (tests/test_test_markers.py checks it), so `pytest -m "not fuse and not
    etcd"` runs on a machine without them. A test that needs a target's
    program is marked with the target's name and records, so it is marked
    `fuse` too. Under CI every part is needed,
    whatever is selected: CI must fail, never skip, without the real parts.
    """
    needed = {part for item in session.items for part in PARTS
              if item.get_closest_marker(part) is not None}
    if os.environ.get("CI"):
        needed = set(PARTS)
    problems = [p for part, found in missing_parts().items() if part in needed for p in found]
    if problems:
        raise pytest.UsageError(
            "the real parts the selected tests need are missing (run scripts/setup, or "
            f"deselect them with -m \"{' and '.join(f'not {p}' for p in PARTS)}\"): "
            + "; ".join(problems))


def _fuse_mounts_under(root: Path) -> list[str]:
    return [mnt for _, mnt in fuse_mounts() if mnt.startswith(str(root))]


# The programs a test may start, by command name (as each target declares them), or by a word
# of their command line (the kit's child program of an embedded database).
LEFTOVER_NAMES = frozenset(p for t in targets.all_targets().values() for p in t.processes)
LEFTOVER_WORDS = (os.fsencode(str(CHILD)),)


def _leftover(pid: int, name: str) -> bool:
    if name in LEFTOVER_NAMES:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(word in cmdline for word in LEFTOVER_WORDS)


def _descendants(pid: int) -> dict[int, str]:
    """Living descendants of `pid` as {pid: command name}, from /proc."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        parents[int(entry)] = int(fields[1])
        names[int(entry)] = name
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


@pytest.fixture(autouse=True)
def own_results_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test explores with an empty results cache of its own (CLI children inherit it)."""
    cache = tmp_path / "results-cache"
    monkeypatch.setenv("POWERCUT_CACHE_DIR", str(cache))
    return cache


def _shared_memory() -> set[str]:
    """Orphaned shared memory on this host: System V segments nobody has attached, and
    PostgreSQL's POSIX segments in /dev/shm."""
    found = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]:
            fields = line.split()  # key shmid perms size cpid lpid nattch ...
            if len(fields) > 6 and fields[6] == "0":
                found.add(f"SysV segment {fields[1]} (key {fields[0]})")
    with contextlib.suppress(OSError):
        found |= {f"/dev/shm/{n}" for n in os.listdir("/dev/shm") if n.startswith("PostgreSQL.")}
    return found


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    shared_before = _shared_memory()
    yield
    kernel = [m for m in mount_points() if m.startswith(str(_SESSION_TMP) + "/")]
    unmount_under(_SESSION_TMP)
    loops = loop.detach_under(_SESSION_TMP)
    mounts = _fuse_mounts_under(_SESSION_TMP)
    for m in mounts:
        subprocess.run(["fusermount3", "-u", "-z", m], capture_output=True)
    programs = {p: n for p, n in _descendants(os.getpid()).items() if _leftover(p, n)}
    for p in programs:
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(p), 9)
    segments = _shared_memory() - shared_before
    assert not kernel, f"kernel file systems left mounted: {kernel}"
    assert not loops, f"loop devices left attached: {loops}"
    assert not mounts, f"FUSE mounts left behind: {mounts}"
    assert not programs, f"programs left behind: {sorted(programs.items())}"
    assert not segments, f"shared memory left behind: {sorted(segments)}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    guard.release_all()  # this process's own ledger: dismissed, like at any orderly exit
    # A powercut child killed by a test leaves its guardian undoing its ledger: let it end.
    deadline = time.monotonic() + 30
    while any(p.name.startswith(guard.PREFIX) for p in _SESSION_TMP.iterdir()) and \
            time.monotonic() < deadline:
        guard.reap(_SESSION_TMP)
        time.sleep(0.1)
    leftovers = [p.name for p in _SESSION_TMP.iterdir() if not p.name.startswith("pytest-of-")]
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)
    if leftovers and exitstatus == 0:
        session.exitstatus = 1
        print(f"\ntemp files left behind by powercut: {sorted(leftovers)[:10]}")


class TargetTests(pytest.Module):
    """A test module of a target's own folder, imported by its name in the package."""

    def _getobj(self) -> ModuleType:
        parts = self.path.relative_to(REPO / "targets").with_suffix("").parts
        return importlib.import_module(".".join(("powercut", "targets", *parts)))


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector
                                ) -> pytest.Module | None:
    if module_path.is_relative_to(REPO / "targets"):
        return TargetTests.from_parent(parent, path=module_path)
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Each target that needs a program is a marker of the tests that need it."""
    for name, target in program_parts().items():
        config.addinivalue_line("markers", f"{name}: needs {target.summary} (its target's "
                                "programs; a test that records is marked fuse too)")


@pytest.fixture(scope="session")
def etcd_bins() -> dict[str, Path]:
    """The two etcd binaries every etcd test runs against: {"3.4": path, "3.5": path}."""
    return etcd_binaries()
