"""The marker discipline: a test that needs FUSE is marked `fuse`, one that needs a target's
program is marked with the target's name.

`pytest -m "not fuse and not etcd"` on a machine without them must run only
tests that do not need them (conftest.py refuses a selection that does).
Checked statically over tests/*.py and every target's own tests
(targets/NAME/tests/): a test needs FUSE when it, or anything of its module
(or of the tests module it imports from) that it reaches by name, calls
`record(`, `mounted(`, `RecorderFS(` or runs the `record` command with a
workload (`"record"` and `"--"` in one argument list); it needs a target's
program when it reaches what that target's folder defines to run it (its
`Program`s, checkers, workloads or `TARGET`, imported from its package) or
records its workload by name; etcd also when it reaches the `etcd_bins`
fixture. What each target defines is read from the target itself, so a new
target needs nothing here. What the source cannot show (a `powercut
explore` of an etcd trace sets up the etcd checker) was found by running
`-m "not fuse and not etcd"` once with /dev/fuse and the etcd binaries
bound over by empty files, and is marked by hand.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

from powercut.explorer.checkers import Checker
from powercut.targets.kit import Program
from tests.realparts import REPO, program_parts

FUSE_CALLS = {"record", "mounted", "RecorderFS"}
ETCD_CALLS = {"etcd_binaries"}  # the engine's tests' own helper of the two etcds
ETCD_NAMES = {"etcd_bins"}
TARGETS = "powercut.targets."


@functools.cache
def symbols() -> dict[str, frozenset[str]]:
    """By target: the names its package defines that run its program (its `Program`s,
    checker and workload classes, and `TARGET`), read from the target itself."""
    found: dict[str, frozenset[str]] = {}
    for name, target in program_parts().items():
        package = importlib.import_module(type(target).__module__)
        modules = [package] + [importlib.import_module(m.name) for m in pkgutil.walk_packages(
            package.__path__, package.__name__ + ".") if ".tests" not in m.name]
        names = {"TARGET"}
        for module in modules:
            for attr, value in vars(module).items():
                runs = isinstance(value, Program) or (inspect.isclass(value) and (
                    issubclass(value, Checker) or (hasattr(value, "header")
                    and hasattr(value, "run"))))
                if runs and getattr(value, "__module__", module.__name__).startswith(
                        package.__name__):
                    names.add(attr)
        found[name] = frozenset(names)
    return found


@functools.cache
def workloads() -> dict[str, str]:
    """Workload name -> the target whose program it records."""
    return {w: name for name, t in program_parts().items() for w in t.workloads}
# Tests the rule flags that do not need the part, and why.
NOT_NEEDED = {
    ("test_errors_cli.py", "test_bad_input_is_one_line_and_exit_2", "fuse"):
        "its `record` cases are refused before anything is mounted",
    ("test_trace_chunks.py", "test_a_sparse_256_mib_image_costs_its_data_not_its_size", "fuse"):
        "its `record` is the module's own trace writer over a directory, no mount",
}


def _marks(decorators: list[ast.expr]) -> set[str]:
    """Marker names among decorators or a `pytestmark` value (`pytest.mark.NAME`)."""
    found = set()
    for node in decorators:
        for sub in ast.walk(node):
            if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute)
                    and sub.value.attr == "mark"):
                found.add(sub.attr)
    return found


class Module:
    """The top-level definitions of one test module, by name."""

    def __init__(self, source: str, imports: dict[str, Module] | None = None) -> None:
        self.tree = ast.parse(source)
        self.defs: dict[str, ast.AST] = {}
        self.module_marks: set[str] = set()
        self.imported: dict[str, Module] = {}
        self.from_target: dict[str, str] = {}  # a name imported from a target's package
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defs[node.name] = node
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.defs[target.id] = node
                        if target.id == "pytestmark" and node.value is not None:
                            self.module_marks |= _marks([node.value])
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    TARGETS) and node.module.split(".")[2] in program_parts():
                for alias in node.names:
                    self.from_target[alias.asname or alias.name] = node.module.split(".")[2]
            elif (isinstance(node, ast.ImportFrom) and node.module
                  and node.module.startswith("tests.") and imports is not None):
                other = imports.get(node.module.split(".", 1)[1])
                for alias in node.names:
                    if other is not None:
                        self.imported[alias.asname or alias.name] = other

    def tests(self) -> Iterator[tuple[str, ast.AST, set[str]]]:
        """(name, node, its markers) of every test function, and of test methods of classes."""
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                yield node.name, node, _marks(node.decorator_list) | self.module_marks
            if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                        yield (f"{node.name}.{item.name}", item,
                               _marks(item.decorator_list + node.decorator_list)
                               | self.module_marks)

    def needs(self, node: ast.AST, fixtures: dict[str, ast.AST]) -> set[str]:
        """The parts `node` needs, following the names it uses through the module."""
        parts: set[str] = set()
        seen: set[int] = set()
        todo: list[tuple[Module, ast.AST]] = [(self, node)]
        while todo:
            module, current = todo.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            for sub in ast.walk(current):
                parts |= _signals(sub) | module.target_signals(sub)
                names = []
                if isinstance(sub, ast.Name):
                    names.append(sub.id)
                elif isinstance(sub, ast.arg):
                    names.append(sub.arg)
                    parts |= {"etcd"} if sub.arg in ETCD_NAMES else set()
                for name in names:
                    if name in module.defs:
                        todo.append((module, module.defs[name]))
                    elif name in module.imported and name in module.imported[name].defs:
                        other = module.imported[name]
                        todo.append((other, other.defs[name]))
                    elif name in fixtures:
                        todo.append((module, fixtures[name]))
        return parts


    def target_signals(self, node: ast.AST) -> set[str]:
        """The target whose program `node` reaches: a name of what runs it, imported from its
        package (`ETCD`, `binary.ETCD.matching`, `RedisChecker(...)`, `TARGET.checker`)."""
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return set()
        target = self.from_target.get(node.id)
        if target is None or not ({node.id, *chain} & symbols()[target]):
            return set()
        return {target}


def _signals(node: ast.AST) -> set[str]:
    parts = set()
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else "")
        if isinstance(node.func, ast.Name) and name in FUSE_CALLS:
            parts.add("fuse")
        if name in ETCD_CALLS:
            parts.add("etcd")
        if name == "record":
            parts |= {workloads()[a.value] for a in node.args
                      if isinstance(a, ast.Constant) and a.value in workloads()}
    if isinstance(node, ast.Name) and node.id in ETCD_NAMES:
        parts.add("etcd")
    elements = (node.args if isinstance(node, ast.Call)
                else node.elts if isinstance(node, ast.List | ast.Tuple) else [])
    words = {e.value for e in elements if isinstance(e, ast.Constant)}
    if "record" in words and "--" in words:
        parts.add("fuse")
    return parts


def unmarked(sources: dict[str, str]) -> list[str]:
    """`file::test needs PART` for every test that needs a part it is not marked for."""
    modules: dict[str, Module] = {}
    for name in sorted(sources, key=lambda n: n != "conftest.py"):
        modules[Path(name).stem] = Module(sources[name], modules)
    # Second pass: imports of modules parsed later.
    modules = {stem: Module(sources[f"{stem}.py"], modules) for stem in modules}
    conftest = modules.get("conftest")
    fixtures = dict(conftest.defs) if conftest else {}
    problems = []
    for stem, module in sorted(modules.items()):
        if not stem.startswith("test_"):
            continue
        for name, node, marks in module.tests():
            for part in sorted(module.needs(node, fixtures) - marks):
                if (f"{stem}.py", name, part) not in NOT_NEEDED:
                    problems.append(f"tests/{stem}.py::{name} needs {part}: mark it "
                                    f"@pytest.mark.{part}")
    return sorted(problems)


def test_every_test_that_needs_fuse_or_a_program_is_marked() -> None:
    files = [*(REPO / "tests").glob("*.py"), REPO / "conftest.py",
             *(REPO / "targets").glob("*/tests/test_*.py")]
    where = {p.name: p.parent.relative_to(REPO) for p in files}
    assert len(where) == len(files), "two test modules of one name"
    problems = unmarked({p.name: p.read_text() for p in files})
    problems = [f"{where[p.split('::')[0].removeprefix('tests/')]}/"
                f"{p.removeprefix('tests/')}" for p in problems]
    assert not problems, "\n".join(problems)


def test_the_rule_finds_an_unmarked_test() -> None:
    sources = {
        "conftest.py": "import pytest\n@pytest.fixture\ndef etcd_bins(): ...\n",
        "helpers.py": "def mount_it(p):\n    return mounted(p)\n",
        "test_a.py": (
            "import pytest\nfrom tests.helpers import mount_it\n"
            "def setup(p):\n    return RecorderFS(p)\n"
            "def test_direct(p):\n    record(p)\n"
            "def test_through_a_helper(p):\n    setup(p)\n"
            "def test_imported(p):\n    mount_it(p)\n"
            "def test_cli(p):\n    run('record', '-o', p, '--', 'true', '{mnt}')\n"
            "def test_etcd(etcd_bins):\n    pass\n"
            "def test_plain(p):\n    assert p\n"
            "@pytest.mark.fuse\ndef test_redis(p):\n    record(p, 'redis')\n"
            "@pytest.mark.fuse\ndef test_marked(p):\n    record(p)\n"
        ),
        "test_b.py": "import pytest\npytestmark = pytest.mark.etcd\n"
                     "def test_module_marked(etcd_bins):\n    pass\n",
    }
    assert unmarked(sources) == [
        "tests/test_a.py::test_cli needs fuse: mark it @pytest.mark.fuse",
        "tests/test_a.py::test_direct needs fuse: mark it @pytest.mark.fuse",
        "tests/test_a.py::test_etcd needs etcd: mark it @pytest.mark.etcd",
        "tests/test_a.py::test_imported needs fuse: mark it @pytest.mark.fuse",
        "tests/test_a.py::test_redis needs redis: mark it @pytest.mark.redis",
        "tests/test_a.py::test_through_a_helper needs fuse: mark it @pytest.mark.fuse",
    ]
