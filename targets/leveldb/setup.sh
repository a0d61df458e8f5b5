# LevelDB's needs, sourced by scripts/setup: Debian's libleveldb and a C++ compiler, and
# plyvel (extra `leveldb`) built from source against it: PyPI's wheel bundles its own
# LevelDB 1.22.
apt_packages+=(libleveldb-dev g++)
pip_extras+=(leveldb)
pip_flags+=(--no-binary plyvel)
after_venv+=(leveldb_plyvel)

leveldb_plyvel() {
    if ! .venv/bin/python -c 'from powercut.targets.leveldb.binding import LEVELDB as b; raise SystemExit(b.problem())'; then
        echo "setup: building plyvel against Debian's libleveldb" >&2
        .venv/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir --no-deps \
            --force-reinstall --no-binary plyvel 'plyvel>=1.5'
    fi
}
