"""The leveldb target's own tests (collected from its folder: see the repository's conftest.py)."""
