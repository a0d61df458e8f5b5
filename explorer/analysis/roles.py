"""File roles: a path with what differs between instances taken out, so repeated causes fold.

`.git/objects/3f/a9c0…` and `.git/objects/e1/07b2…` play one role
(`.git/objects/<xx>/<hash>`), as do numbered log segments (`<n>.wal`),
temporary objects (`tmp_obj_*`) and mkstemp-style temporary names. A file
name loses its numbers; a directory only when it is a number or a hash,
so two members of a cluster (`node1/…`, `node2/…`) stay two roles. Lock
files keep their `.lock`. Pure string rules, applied per path component.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TMP_OBJ = re.compile(r"^tmp_obj_[A-Za-z0-9]+$")
_FAN_OUT = re.compile(r"^[0-9a-f]{2}$")
_LONG_HEX = re.compile(r"[0-9a-f]{32,}")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8,}"
                  r"(?![0-9A-Za-z])")
_NUMBER = re.compile(r"\d+")
# mkstemp and friends: a dot or dash and six random letters and digits, mixed case.
_RANDOM_SUFFIX = re.compile(r"(?<=[.\-_])(?=[A-Za-z0-9]{6}$)(?=.*[A-Z])(?=.*[a-z0-9])"
                            r"[A-Za-z0-9]{6}$")


def _component(name: str, last: bool) -> str:
    if _TMP_OBJ.match(name):
        return "tmp_obj_*"
    if last:
        name = _RANDOM_SUFFIX.sub("<tmp>", name)
    name = _LONG_HEX.sub("<hash>", name)
    name = _HEX.sub("<hash>", name)
    if last:
        return _NUMBER.sub("<n>", name)
    # A directory keeps its numbers (node1/, version-2/) unless it is only one (base/16384/).
    return "<n>" if name.isdigit() else name


def role(path: str) -> str:
    """The role of `path` (see the module docstring); a path with nothing variable is its own."""
    raw = path.split("/")
    parts = [_component(p, i == len(raw) - 1) for i, p in enumerate(raw)]
    for i in range(len(parts) - 1):
        # A two-hex-digit directory holding hashed names is a fan-out directory.
        if _FAN_OUT.match(raw[i]) and parts[i + 1] in ("<hash>", "tmp_obj_*"):
            parts[i] = "<xx>"
    return "/".join(parts)


def roles(paths: Iterable[str]) -> tuple[str, ...]:
    """The distinct roles of some paths, sorted."""
    return tuple(sorted({role(p) for p in paths}))
