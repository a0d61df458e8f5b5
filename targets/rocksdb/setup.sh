# RocksDB's needs, sourced by scripts/setup: rocksdict from PyPI (extra `rocksdb`), whose
# wheel carries its own RocksDB.
pip_extras+=(rocksdb)
