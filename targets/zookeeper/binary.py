"""Which ZooKeeper to run: its jar found by version, and the Java that runs it.

A trace header names the ZooKeeper it was recorded with
(`zookeeper_version`, read from the jar's Maven properties) and, for the
record, the Java version; never a path. A checker looks for a jar of that
version where Debian's libzookeeper-java puts it (`/usr/share/java`), or
takes `--zookeeper-jar PATH`. The jar's manifest names its dependencies;
`slf4j-simple.jar` beside it gives the server a log at all (Debian's
zookeeper.jar carries no slf4j binding, and without one it prints nothing).
Java is the `java` on PATH.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powercut.errors import CheckerError, WorkloadError

JAVA_DIR = Path("/usr/share/java")
LOGGER_JAR = "slf4j-simple.jar"
PROPERTIES = "META-INF/maven/org.apache.zookeeper/zookeeper/pom.properties"
INSTALL_HINT = ("install it (apt libzookeeper-java default-jre-headless) or pass "
                "--zookeeper-jar PATH")


@dataclass(frozen=True)
class ZooKeeper:
    """A ZooKeeper jar, its version, its class path, and the Java that runs it."""

    jar: Path
    version: str
    classpath: str
    java: Path
    java_version: str


def jar_version(jar: Path) -> str:
    """The version in the jar's Maven properties (CheckerError if it is not ZooKeeper's)."""
    try:
        st = os.stat(jar)
    except OSError as e:
        raise CheckerError(f"{jar}: {e.strerror}") from None
    return _jar_version(str(jar), st.st_size, st.st_mtime_ns)


@functools.cache
def _jar_version(jar: str, size: int, mtime: int) -> str:
    try:
        with zipfile.ZipFile(jar) as z:
            text = z.read(PROPERTIES).decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        raise CheckerError(f"{jar} is not a ZooKeeper server jar (no {PROPERTIES})") from None
    m = re.search(r"^version=(\S+)", text, re.M)
    if not m:
        raise CheckerError(f"{jar}: {PROPERTIES} names no version")
    return m.group(1)


def installed() -> list[Path]:
    """ZooKeeper server jars where Debian puts them, without duplicates."""
    found = [JAVA_DIR / "zookeeper.jar", *sorted(JAVA_DIR.glob("zookeeper-[0-9]*.jar"))]
    return [p for p in dict.fromkeys(j.resolve() for j in found if j.is_file())]


def java() -> tuple[Path, str]:
    """The `java` on PATH and its version."""
    found = shutil.which("java")
    if found is None:
        raise CheckerError(f"java is not installed; {INSTALL_HINT}")
    path = Path(found).resolve()
    st = os.stat(path)
    return path, _java_version(str(path), st.st_size, st.st_mtime_ns)


@functools.cache
def _java_version(java: str, size: int, mtime: int) -> str:
    try:
        out = subprocess.run([java, "-XX:-UsePerfData", "-version"], capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, timeout=60,
                             start_new_session=True).stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CheckerError(f"cannot run {java} -version: {e}") from None
    m = re.search(r'version "([^"]+)"', out)
    if not m:
        raise CheckerError(f"{java} does not say which Java it is ({out[:80]!r})")
    return m.group(1)


def _with_java(jar: Path) -> ZooKeeper:
    logger = jar.parent / LOGGER_JAR
    if not logger.is_file():
        logger = JAVA_DIR / LOGGER_JAR
    if not logger.is_file():
        raise CheckerError(f"{LOGGER_JAR} is missing beside {jar} (apt libslf4j-java): "
                           "without it the server logs nothing")
    path, version = java()
    return ZooKeeper(jar, jar_version(jar), f"{jar}:{logger}", path, version)


def for_recording(override: Path | str | None) -> ZooKeeper:
    """What a recording runs: `--zookeeper-jar`, else the jar Debian installed."""
    try:
        if override is not None:
            return _with_java(Path(override).resolve())
        for jar in installed():
            return _with_java(jar)
    except CheckerError as e:
        raise WorkloadError(str(e)) from None
    raise WorkloadError(f"ZooKeeper is not installed; {INSTALL_HINT}")


def for_trace(workload: Mapping[str, Any], override: Path | str | None) -> ZooKeeper:
    """What judges a trace's states: `--zookeeper-jar`, else a jar of the recorded version."""
    if override is not None:
        return _with_java(Path(override).resolve())
    want = str(workload.get("zookeeper_version") or "")
    seen = []
    for jar in installed():
        try:
            found = jar_version(jar)
        except CheckerError:
            continue
        if not want or found == want:
            return _with_java(jar)
        seen.append(f"{found} in {jar}")
    have = ", ".join(seen) or "none"
    raise CheckerError(f"the trace was recorded with ZooKeeper {want}, which is not on this "
                       f"machine (installed: {have}); {INSTALL_HINT}")
