"""The rocksdb target's own tests, collected from its folder (the top conftest.py)."""
