"""File roles: a path with what differs between instances taken out, so repeated causes fold.

`.git/objects/3f/a9c0…` and `.git/objects/e1/07b2…` play one role
(`.git/objects/<xx>/<hash>`), as do numbered log segments (`<n>.wal`) and
temporary names (`tmp_obj_<tmp>`, `.n3.tmp` is `.n<n>.tmp`). A role is
decided knowing the whole trace (`Roles`), not one path string alone:

- which paths are directories: a directory keeps its numbers (`node1/`,
  `version-2/`, so two members of a cluster stay two roles) unless its name
  is only one (`base/16384/`), whether it is the last component or not;
  a file's name loses its numbers;
- a *fan-out* directory: a two-hex-digit directory that only ever holds
  hash-named or temporary files, or has no files and sits beside such
  directories, is `<xx>` (`mkdir objects/cb` and `mkdir objects/4b` are one
  role, as are the files in them);
- a *temporary* name: a stem, a separator and a random tail of six or more
  letters and digits, random because the trace shows the same stem with
  other tails of that length beside it, or because the tail mixes cases
  (mkstemp's `XXXXXX`), is `stem<tmp>`.

Lock files keep their `.lock`. Pure; names no program.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from powercut.explorer.verdict import OpSummary

_FAN_OUT = re.compile(r"^[0-9a-f]{2}$")
_LONG_HEX = re.compile(r"[0-9a-f]{32,}")
_HASH_NAME = re.compile(r"^[0-9a-f]{30,}$")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8,}"
                  r"(?![0-9A-Za-z])")
_NUMBER = re.compile(r"\d+")
_TAIL = re.compile(r"^(.*[.\-_])([A-Za-z0-9]{6,})$")
# mkstemp and friends: six random letters and digits, mixed case.
_RANDOM = re.compile(r"^(?=.*[A-Z])(?=.*[a-z0-9])[A-Za-z0-9]{6}$")
DIR_OPS = frozenset({"mkdir", "rmdir", "fsyncdir"})


def _name(name: str, stems: set[str]) -> str:
    """The role of a file's name: temporary tail, hashes and numbers taken out."""
    tail = _TAIL.match(name)
    if tail and (tail.group(1) in stems or _RANDOM.match(tail.group(2))):
        return tail.group(1) + "<tmp>"
    name = _LONG_HEX.sub("<hash>", name)
    name = _HEX.sub("<hash>", name)
    return _NUMBER.sub("<n>", name)


def _dir_name(name: str) -> str:
    """The role of a directory's name: it keeps its numbers unless it is only one."""
    name = _LONG_HEX.sub("<hash>", name)
    name = _HEX.sub("<hash>", name)
    return "<n>" if name.isdigit() else name


class Roles:
    """The roles of the paths of one trace (see the module docstring). Paths the trace never
    named get roles by the same rules, as files unless they hold something."""

    def __init__(self, ops: Iterable[OpSummary] = ()) -> None:
        self.dirs: set[str] = {""}
        self.children: dict[str, set[str]] = defaultdict(set)
        for op in ops:
            for path in (op.path, op.dst):
                if path:
                    self._add(path, is_dir=op.op in DIR_OPS)
            if op.op == "rename" and op.path in self.dirs and op.dst:
                self.dirs.add(op.dst)
        self._stems = self._random_stems()
        self._fan_out = self._fan_outs()
        self._cache: dict[str, str] = {}

    def _add(self, path: str, *, is_dir: bool) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i - 1]) if i > 1 else ""
            self.children[parent].add(parts[i - 1])
            self.dirs.add("/".join(parts[:i]))
        self.children["/".join(parts[:-1])].add(parts[-1])
        if is_dir:
            self.dirs.add(path)

    def _random_stems(self) -> set[str]:
        """Stems seen with two or more tails of one length holding a letter, beside each
        other or in fan-out-like directories of one parent: their tails are random."""
        tails: dict[tuple[str, str, int], set[str]] = defaultdict(set)
        for parent, names in self.children.items():
            head, _, last = parent.rpartition("/")
            place = f"{head}/<xx>" if _FAN_OUT.match(last) else parent
            for name in names:
                m = _TAIL.match(name)
                if m and not m.group(2).isdigit() and self._join(parent, name) not in self.dirs:
                    tails[(place, m.group(1), len(m.group(2)))].add(m.group(2))
        return {stem for (_, stem, _), seen in tails.items() if len(seen) > 1}

    @staticmethod
    def _join(parent: str, name: str) -> str:
        return f"{parent}/{name}" if parent else name

    def _fan_outs(self) -> set[str]:
        """Two-hex-digit directories that only ever hold hash-named or temporary files, and
        empty ones beside them."""
        found = set()
        for d in self.dirs:
            held = self.children.get(d, set())
            if not _FAN_OUT.match(d.rpartition("/")[2]) or not held or any(
                    self._join(d, n) in self.dirs for n in held):
                continue
            if all(_HASH_NAME.match(n) or _name(n, self._stems).endswith("<tmp>") for n in held):
                found.add(d)
        for d in self.dirs - found:
            parent, _, name = d.rpartition("/")
            if _FAN_OUT.match(name) and not self.children.get(d) and any(
                    self._join(parent, n) in found for n in self.children.get(parent, ())):
                found.add(d)
        return found

    def of(self, path: str) -> str:
        """The role of `path`; a path with nothing variable is its own."""
        found = self._cache.get(path)
        if found is None:
            parts = path.split("/")
            out = []
            for i, name in enumerate(parts):
                here = "/".join(parts[:i + 1])
                if here in self._fan_out:
                    out.append("<xx>")
                elif here in self.dirs or i < len(parts) - 1:
                    out.append(_dir_name(name))
                else:
                    out.append(_name(name, self._stems))
            found = self._cache[path] = "/".join(out)
        return found

    def all(self, paths: Iterable[str]) -> tuple[str, ...]:
        """The distinct roles of some paths, sorted."""
        return tuple(sorted({self.of(p) for p in paths}))


def role(path: str) -> str:
    """The role of `path` knowing nothing else of its trace (see `Roles`)."""
    return Roles([OpSummary(0, "create", 0, path)]).of(path)


def roles(paths: Iterable[str]) -> tuple[str, ...]:
    """The distinct roles of some paths knowing nothing else of their trace, sorted."""
    paths = list(paths)
    known = Roles(OpSummary(0, "create", 0, p) for p in paths)
    return known.all(paths)
