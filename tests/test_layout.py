"""The house rules, checked: layers import one way, modules stay small, the engine names no target.

Read from the source files (ast), so a rule broken anywhere fails here with
the file and the line to look at.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.realparts import REPO

ROOTS = {"powercut": "powercut", "recorder": "powercut.recorder",
         "replayer": "powercut.replayer", "explorer": "powercut.explorer",
         "targets": "powercut.targets"}
FLOOR = ("powercut.errors", "powercut.trace", "powercut.process", "powercut.ports",
         "powercut.ranges", "powercut.__init__")
# What each layer may import (besides itself, the floor and third-party modules).
MAY_IMPORT = {
    "floor": (),
    "recorder": (),
    "replayer": (),
    "explorer": ("powercut.replayer",),
    "targets": ("powercut.replayer", "powercut.explorer", "powercut.recorder"),
    "cli": ("powercut.replayer", "powercut.explorer", "powercut.recorder", "powercut.targets",
            "powercut.testing", "powercut.cli", "powercut.session"),
}
MAX_LINES = 350
MAX_MODULES_PER_FOLDER = 12


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in ROOTS.items():
        for path in (REPO / folder).rglob("*.py"):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def layer(module: str) -> str:
    if module == "powercut.__main__" or module.startswith(("powercut.testing",
                                                            "powercut.session")):
        return "cli"  # the doors on top: the command line, the test helpers and their session
    for name in ("recorder", "replayer", "explorer", "targets", "cli"):
        if module.startswith(f"powercut.{name}"):
            return name
    return "floor"


def imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return out


def test_layers_import_one_way() -> None:
    broken = []
    for module, path in modules().items():
        mine = layer(module)
        allowed = (f"powercut.{mine}" if mine != "floor" else "\0", *FLOOR,
                   *MAY_IMPORT[mine])
        for line, name in imports(path):
            if name == "powercut" or not name.startswith("powercut."):
                continue
            if not name.startswith(allowed):
                broken.append(f"{path.relative_to(REPO)}:{line} ({mine}) imports {name}")
    assert not broken, "\n".join(broken)


def test_modules_stay_small_and_folders_few() -> None:
    big = [f"{p.relative_to(REPO)} ({n} lines)" for p in modules().values()
           if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not big, big
    crowded = []
    for folder in {p.parent for p in modules().values()}:
        count = sum(1 for p in folder.glob("*.py") if p.name != "__init__.py")
        if count > MAX_MODULES_PER_FOLDER:
            crowded.append(f"{folder.relative_to(REPO)} ({count} modules)")
    assert not crowded, crowded


def test_the_engine_names_no_target() -> None:
    """Outside a target's own folder, no module mentions a program powercut judges."""
    names = re.compile(r"\b(etcd|redis|postgres|leveldb|zookeeper)", re.IGNORECASE)
    found = []
    for module, path in modules().items():
        parts = module.split(".")
        if parts[:2] == ["powercut", "targets"] and len(parts) > 2 and parts[2] != "base":
            continue  # a target's own folder
        for n, text in enumerate(path.read_text().splitlines(), 1):
            if names.search(text):
                found.append(f"{path.relative_to(REPO)}:{n}: {text.strip()}")
    assert not found, "\n".join(found)


def test_every_folder_of_modules_is_a_package() -> None:
    """setup.py installs the packages it finds: a folder of modules without `__init__.py`
    would be left out of an install."""
    folders = {p.parent for p in modules().values()}
    assert not [str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").exists()]
