"""Built-in targets on a kernel file system: recorded small, judged in their own files.

- etcd's bootstrap on a 256 MiB ext4 image makes a trace of at most 20 MB
  (it was 210 MB for 200 MiB when the image went inline in the header).
- git with `core.fsync=all` on ext4, explored with defaults: one data-loss
  cause, said in files (`refs/heads/main`), the one `docs/findings/git.md`
  reports under ext4-ordered; nothing left attached or mounted.
"""

from __future__ import annotations

import pytest

from powercut.kernelfs import loop
from powercut.kernelfs.mounting import mount_points
from powercut.trace import open_trace
from tests.targets_cli import explore, record

pytestmark = [pytest.mark.fuse, pytest.mark.kernelfs]


@pytest.mark.etcd
def test_etcd_bootstrap_on_a_256_mib_ext4_image_makes_a_small_trace(tmp_path) -> None:
    trace = record(tmp_path, "etcd", "--fs", "ext4", "--fs-size", "256M")
    assert trace.stat().st_size <= 20 << 20, f"{trace.stat().st_size} bytes"
    opened = open_trace(trace)
    assert opened.version == 2 and opened.fs is not None
    assert opened.fs["type"] == "ext4" and opened.fs["size"] == 256 << 20
    assert {op.path for op in opened.ops() if op.op != "marker"} == {"disk.img"}


@pytest.mark.git
@pytest.mark.slow
def test_git_fsync_all_on_ext4_loses_the_ref_at_the_acknowledgement(tmp_path) -> None:
    trace = record(tmp_path, "git", "--writes", "3", "--git-config", "core.fsync=all",
                   "--fs", "ext4")
    status, report = explore(trace)
    assert status == 1
    [cause] = report["causes"]
    assert cause["verdict"] == "data-loss"
    assert [c["path"] for c in cause["files"]["changes"]] == ["repo/.git/refs/heads/main"]
    assert "refs/heads/main" in cause["barrier"]
    assert report["kernel"] == "ext4" and cause["models"] == ["ext4"]
    root = str(tmp_path)
    assert not [n for n, image in loop.bound().items() if image.startswith(root)]
    assert not [m for m in mount_points() if m.startswith(root)]
