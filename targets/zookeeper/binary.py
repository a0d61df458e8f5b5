"""Which ZooKeeper to run: its jar found by version, and the Java that runs it.

A trace header names the ZooKeeper it was recorded with
(`zookeeper_version`, read from the jar's Maven properties, and its
digest) and, for the record, the Java version; never a path. A checker
looks for a jar of that version where Debian's libzookeeper-java puts it
(`/usr/share/java`), or takes `--zookeeper-jar PATH`. The jar's manifest
names its dependencies; `slf4j-simple.jar` beside it gives the server a log
at all (Debian's zookeeper.jar carries no slf4j binding, and without one it
prints nothing). Java is the `java` on PATH.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from powercut.errors import CheckerError
from powercut.targets.kit import Program
from powercut.targets.kit.program import by_content

JAVA_DIR = Path("/usr/share/java")
LOGGER_JAR = "slf4j-simple.jar"
PROPERTIES = "META-INF/maven/org.apache.zookeeper/zookeeper/pom.properties"
INSTALL = "apt libzookeeper-java libslf4j-java default-jre-headless"


@by_content
def jar_version(jar: Path) -> str:
    """The version in the jar's Maven properties (CheckerError if it is not ZooKeeper's)."""
    try:
        with zipfile.ZipFile(jar) as z:
            text = z.read(PROPERTIES).decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        raise CheckerError(f"{jar} is not a ZooKeeper server jar (no {PROPERTIES})") from None
    m = re.search(r"^version=(\S+)", text, re.M)
    if not m:
        raise CheckerError(f"{jar}: {PROPERTIES} names no version")
    return m.group(1)


ZOOKEEPER = Program("zookeeper.jar", "zookeeper", "", INSTALL, read_version=jar_version,
                    places=(str(JAVA_DIR / "zookeeper.jar"),
                            str(JAVA_DIR / "zookeeper-[0-9]*.jar")),
                    executable=False, on_path=False, flag="--zookeeper-jar")
JAVA = Program("java", "java", r'version "([^"]+)"', "apt default-jre-headless",
               version_args=("-XX:-UsePerfData", "-version"))
LOGGER = Program(LOGGER_JAR, "slf4j", "", "apt libslf4j-java", read_version=lambda p: "",
                 places=(str(JAVA_DIR / LOGGER_JAR),), executable=False, on_path=False)


@dataclass(frozen=True)
class ZooKeeper:
    """A ZooKeeper jar, its version, its class path, and the Java that runs it."""

    jar: Path
    version: str
    classpath: str
    java: Path
    java_version: str


def with_java(jar: Path) -> ZooKeeper:
    """The server of `jar`, with its logger and the Java on PATH (CheckerError if missing)."""
    logger = jar.parent / LOGGER_JAR
    if not logger.is_file():
        logger = JAVA_DIR / LOGGER_JAR
    if not logger.is_file():
        raise CheckerError(f"{LOGGER_JAR} is missing beside {jar} (apt libslf4j-java): "
                           "without it the server logs nothing")
    found = JAVA.candidates()
    if not found:
        raise CheckerError(f"java is not installed ({JAVA.install})")
    java = found[0].resolve()
    return ZooKeeper(jar, ZOOKEEPER.version(jar), f"{jar}:{logger}", java, JAVA.version(java))
