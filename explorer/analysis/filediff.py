"""Two recovered trees compared file by file, and one made more like the other.

A crash image a kernel recovered is a tree of files; what a maintainer
needs to hear is which files the failing disk got wrong ("refs/heads/main
keeps its old content"), not which 4 KiB blocks of the image were lost.
`snapshot` describes a tree (kind, mode, size, link count, inode, content
hash, symlink target), `diff` lists the differences between a failing and
a passing tree at the shallowest path where they start, `apply` copies
some of the passing tree's versions onto a copy of the failing one (so a
checker can tell which differences matter), and `FileChange.words` says a
difference in a sentence. Nothing here mounts or runs a program.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file of a recovered tree, as far as a program can tell."""

    kind: str  # file, dir, symlink, other
    mode: int
    size: int
    nlink: int
    ino: int
    digest: str = ""  # files: sha256 of the content
    target: str = ""  # symlinks


Snapshot = Mapping[str, Entry]


def snapshot(root: Path) -> dict[str, Entry]:
    """Every path under `root` (relative, `/`-separated) with what describes it."""
    out: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            kind, digest, target = "other", "", ""
            if stat.S_ISREG(st.st_mode):
                kind = "file"
                with open(full, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            elif stat.S_ISDIR(st.st_mode):
                kind = "dir"
            elif stat.S_ISLNK(st.st_mode):
                kind, target = "symlink", os.readlink(full)
            out[rel] = Entry(kind, st.st_mode & 0o7777, st.st_size if kind == "file" else 0,
                             st.st_nlink if kind != "dir" else 1, st.st_ino, digest, target)
    return out


@dataclass(frozen=True)
class FileChange:
    """How one path differs: in the failing tree (`failing`) and the passing one (`passing`)."""

    path: str
    change: str  # missing, extra, replaced, content, size, links, mode, kind
    failing: Entry | None
    passing: Entry | None

    def words(self) -> str:
        """The difference as a maintainer reads it, about the failing disk."""
        f, p = self.failing, self.passing
        if f is None and p is not None:
            return f"{self.path} is missing ({_what(p)} in the passing state)"
        if p is None and f is not None:
            return f"{self.path} is still there ({_what(f)}; gone in the passing state)"
        assert f is not None and p is not None
        if self.change == "replaced":
            return (f"{self.path} keeps its old content ({_what(f)}, another inode than the "
                    f"{_what(p)} that replaced it): the rename over it was lost")
        if self.change == "kind":
            return f"{self.path} is a {f.kind}, not a {p.kind}"
        if self.change == "size" and f.size < p.size:
            return f"{self.path} is short: {_size(f.size)} of {_size(p.size)}"
        if self.change == "size":
            return f"{self.path} is {_size(f.size)}, {_size(p.size)} in the passing state"
        if self.change == "content":
            return f"{self.path} holds other bytes ({_what(f)}; {_what(p)} in the passing state)"
        if self.change == "links":
            return f"{self.path} has {f.nlink} links, {p.nlink} in the passing state"
        return f"{self.path} has mode {f.mode:o}, {p.mode:o} in the passing state"

    @property
    def kind(self) -> str:
        """The cause kind a loss of this change is: lost-data or lost-namespace."""
        if self.change in ("content", "size"):
            return "lost-data"
        return "lost-namespace"


def _what(e: Entry) -> str:
    if e.kind == "file":
        return f"{_size(e.size)}, sha256 {e.digest[:12]}"
    if e.kind == "symlink":
        return f"a symlink to {e.target}"
    return f"a {e.kind}"


def _size(n: int) -> str:
    return f"{n} B" if n < 10 * 1024 else f"{n / 1024:.0f} KiB" if n < 10 * MiB \
        else f"{n / MiB:.0f} MiB"


def diff(failing: Snapshot, passing: Snapshot) -> list[FileChange]:
    """The differences, each at the shallowest path where it starts (a missing directory is
    one change, not one per file under it), parents before children."""
    changes: list[FileChange] = []
    covered: list[str] = []
    for path in sorted(set(failing) | set(passing)):
        if any(path.startswith(c + "/") for c in covered):
            continue
        f, p = failing.get(path), passing.get(path)
        change = _change(f, p)
        if change is None:
            continue
        changes.append(FileChange(path, change, f, p))
        if change in ("missing", "extra", "kind"):
            covered.append(path)
    return changes


def _change(f: Entry | None, p: Entry | None) -> str | None:
    if f is None:
        return "missing"
    if p is None:
        return "extra"
    if f.kind != p.kind:
        return "kind"
    if f.kind == "file" and (f.digest, f.size) != (p.digest, p.size):
        if f.ino != p.ino:
            return "replaced"
        return "content" if f.size == p.size else "size"
    if f.kind == "symlink" and f.target != p.target:
        return "replaced" if f.ino != p.ino else "content"
    if f.nlink != p.nlink and f.kind != "dir":
        return "links"
    if f.mode != p.mode:
        return "mode"
    return None


def copy_tree(source: Path, dest: Path) -> None:
    """A copy of `source` at `dest` (new), hard links and holes kept."""
    dest.mkdir(parents=True)
    done = subprocess.run(["cp", "-a", "--sparse=always", f"{source}/.", str(dest)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise OSError(f"cp {source} {dest}: {done.stderr.strip()[-300:]}")


def apply(tree: Path, passing: Path, changes: Iterable[FileChange]) -> None:
    """Make `tree` take the passing tree's version of each change (in place)."""
    for change in changes:
        target = tree / change.path
        if change.failing is not None:
            if change.failing.kind == "dir" and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        if change.passing is None:
            continue
        source = passing / change.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if change.passing.kind == "dir":
            shutil.copytree(source, target, symlinks=True)
        elif change.passing.kind == "symlink":
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
