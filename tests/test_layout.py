"""The house rules, checked: layers import one way, modules stay small, the engine names no target.

Read from the source files (ast), so a rule broken anywhere fails here with
the file and the line to look at. Imports are read whole: `from powercut
import targets` imports `powercut.targets`, and a relative import is
resolved against its module's package. A target's own tests
(`targets/NAME/tests/`) are test code: held to the sizes, not the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.realparts import REPO

ROOTS = {"powercut": "powercut", "recorder": "powercut.recorder",
         "replayer": "powercut.replayer", "explorer": "powercut.explorer",
         "targets": "powercut.targets"}
FLOOR = ("powercut.errors", "powercut.trace", "powercut.process", "powercut.ports",
         "powercut.ranges", "powercut.faultplan", "powercut.__init__", "powercut.guard",
         "powercut.kernelfs", "powercut.namespaces", "powercut.volume", "powercut.sparse")
# What each layer may import (besides itself, the floor and third-party modules).
MAY_IMPORT = {
    "floor": (),
    "recorder": (),
    "replayer": (),
    "explorer": ("powercut.replayer",),
    "targets": ("powercut.replayer", "powercut.explorer", "powercut.recorder"),
    "cli": ("powercut.replayer", "powercut.explorer", "powercut.recorder", "powercut.targets",
            "powercut.testing", "powercut.faults", "powercut.cli", "powercut.session"),
}
MAX_LINES = 350
MAX_MODULES_PER_FOLDER = 12


def modules(with_tests: bool = False) -> dict[str, Path]:
    found = {}
    for folder, package in ROOTS.items():
        for path in (REPO / folder).rglob("*.py"):
            rel = path.relative_to(REPO / folder).with_suffix("")
            if "tests" in rel.parts and not with_tests:
                continue
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


TARGETS = "powercut.targets"
KIT = ("powercut.targets.kit", "powercut.targets.base")


def target_of(module: str) -> str | None:
    """The target a module belongs to (`powercut.targets.NAME...`), None for any other."""
    parts = module.split(".")
    if module.startswith(TARGETS + ".") and not module.startswith(KIT):
        return parts[2]
    return None


def layer(module: str) -> str:
    if module == "powercut.__main__" or module.startswith(("powercut.testing",
                                                            "powercut.faults", "powercut.session")):
        return "cli"  # the doors on top: command line, test helpers, session, fault sweeps
    for name in ("recorder", "replayer", "explorer", "targets", "cli"):
        if module.startswith(f"powercut.{name}"):
            return name
    return "floor"


def imports(path: Path, module: str = "") -> list[tuple[int, str]]:
    """(line, module) of every import in `path`, wherever it stands (a function's too); a
    name imported from a package counts as its submodule (`from powercut import targets`
    is `powercut.targets`), a relative import is resolved against `module`'s package."""
    out = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return out


def test_layers_import_one_way() -> None:
    broken = []
    for module, path in modules().items():
        mine = layer(module)
        allowed = (f"powercut.{mine}" if mine != "floor" else "\0", *FLOOR,
                   *MAY_IMPORT[mine])
        for line, name in imports(path, module):
            if name == "powercut" or not name.startswith("powercut."):
                continue
            if not name.startswith(allowed) and name.split(".")[1] in {
                    "recorder", "replayer", "explorer", "targets", "cli", "testing", "session"}:
                broken.append(f"{path.relative_to(REPO)}:{line} ({mine}) imports {name}")
    assert not broken, "\n".join(broken)


def test_modules_stay_small_and_folders_few() -> None:
    big = [f"{p.relative_to(REPO)} ({n} lines)" for p in modules(with_tests=True).values()
           if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not big, big
    crowded = []
    for folder in {p.parent for p in modules(with_tests=True).values()}:
        count = sum(1 for p in folder.glob("*.py") if p.name != "__init__.py")
        if count > MAX_MODULES_PER_FOLDER:
            crowded.append(f"{folder.relative_to(REPO)} ({count} modules)")
    assert not crowded, crowded


def test_the_engine_names_no_target() -> None:
    """No module imports a target but the target itself: the engine, the doors and the kit
    reach targets only through the registry (`powercut.targets`), and a target imports only
    itself, the kit and the base, never another target."""
    found = []
    for module, path in modules().items():
        mine = target_of(module)
        for line, name in imports(path, module):
            other = target_of(name)
            if other is not None and other != mine:
                found.append(f"{path.relative_to(REPO)}:{line}: {module} imports {name}")
    assert not found, "\n".join(found)


def test_the_layout_rules_read_every_import() -> None:
    source = ("from powercut import targets\nfrom . import binary\nfrom ..etcd import logs\n"
              "def f():\n    import powercut.targets.git.repo\n")
    path = REPO / "tests" / "__layout_probe.py"
    try:
        path.write_text(source)
        found = {name for _, name in imports(path, "powercut.targets.redis.checker")}
    finally:
        path.unlink()
    assert {"powercut.targets", "powercut.targets.redis.binary", "powercut.targets.etcd.logs",
            "powercut.targets.git.repo"} <= found


def test_every_folder_of_modules_is_a_package() -> None:
    """setup.py installs the packages it finds: a folder of modules without `__init__.py`
    would be left out of an install."""
    folders = {p.parent for p in modules().values()}
    assert not [str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").exists()]
