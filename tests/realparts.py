"""Where the tests find the real parts (FUSE and the targets' programs), and what is missing.

A part is FUSE, or a target that needs a program: its name is the marker
of the tests that need it, and what it lacks here is what its `missing()`
says (the target's folder declares it; nothing here names a target).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from powercut import targets
from powercut.targets.base import Target

REPO = Path(__file__).resolve().parent.parent
TRACES = REPO / "traces"
# Pretend these parts are missing (comma-separated), to test the session's guard.
PRETEND_MISSING = "POWERCUT_TESTS_PRETEND_MISSING"


def needs_a_program(target: Target) -> bool:
    return bool(target.programs) or type(target).missing is not Target.missing


def program_parts() -> dict[str, Target]:
    """The targets whose tests need a program, by marker name."""
    return {name: t for name, t in targets.all_targets().items() if needs_a_program(t)}


# Also the markers of the tests that need them.
PARTS = ("fuse", "kernelfs", *program_parts())


def missing_parts() -> dict[str, list[str]]:
    """What is missing of each real part, by the marker of the tests that need it."""
    problems: dict[str, list[str]] = {part: [] for part in PARTS}
    pretend = set(filter(None, os.environ.get(PRETEND_MISSING, "").split(",")))
    if not os.path.exists("/dev/fuse") or "fuse" in pretend:
        problems["fuse"].append("/dev/fuse does not exist")
    if shutil.which("fusermount3") is None:
        problems["fuse"].append("fusermount3 is not installed (apt fuse3)")
    for name, target in program_parts().items():
        if name in pretend:
            problems[name].append(f"{name} is pretended missing")
        problems[name] += target.missing()
    if "kernelfs" in pretend:
        problems["kernelfs"].append("kernelfs is pretended missing")
    problems["kernelfs"] += _kernelfs_missing()
    return problems


def _kernelfs_missing() -> list[str]:
    """What recording and checking on kernel ext4, XFS and btrfs lacks here."""
    from powercut.kernelfs import filesystems, loop

    found = []
    problem = loop.available()
    if problem is not None:
        found.append(problem)
    for fs in filesystems.FILE_SYSTEMS.values():
        why = fs.problem()
        if why is not None:
            found.append(f"{fs.name}: {why}")
    return found


def missing_real_parts() -> list[str]:
    return [p for problems in missing_parts().values() for p in problems]


def etcd_binaries() -> dict[str, Path]:
    """The two etcds the engine's own tests run against (the etcd target's two versions)."""
    from powercut.targets.etcd.binary import DEBIAN_ETCD, distro_etcd
    bins = {"3.4": DEBIAN_ETCD, "3.5": distro_etcd()}
    missing = [v for v, p in bins.items() if p is None or not Path(p).exists()]
    assert not missing, f"etcd {missing} not installed (run scripts/setup)"
    return {v: Path(p) for v, p in bins.items() if p is not None}
