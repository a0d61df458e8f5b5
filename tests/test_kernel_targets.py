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


@pytest.mark.parametrize("fs", ["xfs", "btrfs"])
def test_a_320_mib_image_in_keep_backing_makes_a_trace_show_reads(tmp_path, fs) -> None:
    """As a new user tried it: an XFS or btrfs image as the initial tree of an ordinary
    recording. Inline in the header it made a record over the reader's limit, and `show`
    refused the trace as "not a powercut trace"; in chunks it is small and reads."""
    import subprocess
    import sys

    backing = tmp_path / "backing"
    backing.mkdir()
    image = backing / "disk.img"
    with open(image, "wb") as f:
        f.truncate(320 << 20)
    mkfs = {"xfs": ["mkfs.xfs", "-q", "-f"], "btrfs": ["mkfs.btrfs", "-q", "-f"]}[fs]
    subprocess.run([*mkfs, str(image)], check=True, capture_output=True)
    trace = tmp_path / "t.trace"
    done = subprocess.run([sys.executable, "-m", "powercut", "record", "--keep-backing",
                           str(backing), "-o", str(trace), "--", "sh", "-c",
                           'dd if=/dev/zero of="$1/disk.img" bs=4096 count=1 seek=10 '
                           'conv=notrunc,fsync status=none', "sh", "{mnt}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert trace.stat().st_size < 20 << 20
    shown = subprocess.run([sys.executable, "-m", "powercut", "show", str(trace)],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "disk.img" in shown.stdout
    assert open_trace(trace).version == 2
