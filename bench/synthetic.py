"""Synthetic traces for the benches that need a size no recording has.

`kvstore_trace` is the trace `examples/kvstore.py` would make for `puts`
acknowledged puts, with an fsync of its log after every `fsync_every`-th
(a store that syncs in batches and acknowledges before): every op is a
crash point, and `examples/check_kvstore.py` judges its states for real.
`pages_trace` holds one crash point with `pages` unsynced pages of one
file: 2^pages legal states there under the lazyfs model.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.context import REPO
from powercut.trace import TraceWriter

KV_CHECK = f"{sys.executable} {REPO / 'examples' / 'check_kvstore.py'} {{dir}} {{markers}}"


def kvstore_trace(path: Path, puts: int, fsync_every: int = 10) -> Path:
    with TraceWriter(path, argv=["bench", "kvstore"], workload={"name": "command"}) as w:
        w.append("create", 1, path="store.log", mode=0o644)
        offset = 0
        for i in range(puts):
            line = f"k{i}=v{i}\n".encode()
            w.append("write", 1, path="store.log", offset=offset, data=line)
            offset += len(line)
            if (i + 1) % fsync_every == 0:
                w.append("fsync", 1, path="store.log", datasync=False)
            w.append("marker", 1, text=f"put k{i}=v{i} acknowledged", key=f"k{i}",
                     value=f"v{i}")
    return path


def pages_trace(path: Path, pages: int, page_size: int = 4096) -> Path:
    """A file written page by page, never synced: the last crash point has `pages` pending."""
    with TraceWriter(path, argv=["bench", "pages"], workload={"name": "command"},
                     page_size=page_size) as w:
        w.append("create", 1, path="data", mode=0o644)
        for i in range(pages):
            w.append("write", 1, path="data", offset=i * page_size,
                     data=bytes([i % 250 + 1]) * page_size)
    return path
