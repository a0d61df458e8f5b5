"""Which LevelDB powercut tests: plyvel in this interpreter, linked against Debian's libleveldb.

PyPI's plyvel wheel bundles its own LevelDB (1.22, `plyvel.libs/`); the
target's `setup.sh` builds plyvel from source against Debian's libleveldb
(1.23), so the program tested is the one Debian ships. The kit's `Binding`
finds it, records its version, library name and digest, and says in one
line what is missing.
"""

from __future__ import annotations

from powercut.targets.kit.binding import Binding

SETUP = "run scripts/setup (it builds plyvel against Debian's libleveldb-dev)"


def _leveldb_version() -> str:
    import plyvel
    return str(plyvel.__leveldb_version__)


def _plyvel_version() -> dict[str, str]:
    import plyvel
    return {"plyvel_version": str(plyvel.__version__)}


LEVELDB = Binding("leveldb", "plyvel._plyvel", "libleveldb", _leveldb_version, SETUP,
                  extra=_plyvel_version)
