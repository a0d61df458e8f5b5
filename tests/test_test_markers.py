"""The marker discipline: a test that needs FUSE is marked `fuse`, one that needs etcd `etcd`.

`pytest -m "not fuse and not etcd"` on a machine without them must run only
tests that do not need them (tests/conftest.py refuses a selection that
does). Checked statically over tests/*.py: a test needs FUSE when it, or
anything of its module (or of the tests module it imports from) that it
reaches by name, calls `record(`, `mounted(`, `RecorderFS(` or runs the
`record` command with a workload (`"record"` and `"--"` in one argument
list); it needs etcd when it reaches the `etcd_bins` fixture or builds an
etcd checker, workload or binary lookup; it needs a target's program
(`redis`...) when it builds that target's checker or workload or records
its workload by name. What the source cannot show (a
`powercut explore` of an etcd trace sets up the etcd checker) was found by
running `-m "not fuse and not etcd"` once with /dev/fuse and the etcd
binaries bound over by empty files, and is marked by hand.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.realparts import REPO

FUSE_CALLS = {"record", "mounted", "RecorderFS"}
ETCD_CALLS = {"EtcdChecker", "EtcdClusterChecker", "EtcdBootstrap", "for_trace",
              "etcd_binaries", "distro_etcd"}
ETCD_NAMES = {"etcd_bins"}
# A target's program: its checker or workload built by name, or `record(..., "NAME", ...)`.
PROGRAM_CALLS = {"RedisChecker": "redis", "RedisWrites": "redis",
                 "LevelDBChecker": "leveldb", "LevelDBWrites": "leveldb",
                 "GitChecker": "git", "GitCommits": "git"}
PROGRAMS = {"redis", "leveldb", "git"}
# Tests the rule flags that do not need the part, and why.
NOT_NEEDED = {
    ("test_errors_cli.py", "test_bad_input_is_one_line_and_exit_2", "fuse"):
        "its `record` cases are refused before anything is mounted",
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
                parts |= _signals(sub)
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


def _signals(node: ast.AST) -> set[str]:
    parts = set()
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else "")
        if isinstance(node.func, ast.Name) and name in FUSE_CALLS:
            parts.add("fuse")
        if name in ETCD_CALLS:
            parts.add("etcd")
        if name in PROGRAM_CALLS:
            parts.add(PROGRAM_CALLS[name])
        if name == "record":
            parts |= {a.value for a in node.args
                      if isinstance(a, ast.Constant) and a.value in PROGRAMS}
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


def test_every_test_that_needs_fuse_or_etcd_is_marked() -> None:
    sources = {p.name: p.read_text() for p in (REPO / "tests").glob("*.py")}
    problems = unmarked(sources)
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
