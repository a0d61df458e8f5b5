"""The real parts are present: the suite fails, never skips, without them."""

from tests.realparts import etcd_binaries, missing_real_parts


def test_fuse_and_both_etcds_are_installed() -> None:
    assert missing_real_parts() == []
    assert set(etcd_binaries()) == {"3.4", "3.5"}
