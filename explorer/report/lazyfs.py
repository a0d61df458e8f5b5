"""LazyFS configs that reproduce each root cause (`powercut explore --lazyfs-dir DIR`).

Writes one complete LazyFS config per root cause that has a LazyFS fault
(`cause-1-torn-write-C50a81121.toml`: LazyFS's usual sections plus the
`[[injection]]` table, with comments saying which crash state it leaves and
the `powercut replay` command of the same state), and a README.txt index
that also says why a cause has no fault. It writes only inside DIR and
never runs LazyFS or anything else.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from powercut.errors import PowercutError
from powercut.explorer.analysis.cause import RootCause
from powercut.explorer.exploration import Exploration
from powercut.explorer.report.files import write_text_atomic

BASE_CONFIG = """\
[faults]
fifo_path="/tmp/faults.fifo"

[cache]
apply_eviction=false

[cache.simple]
custom_size="1gb"
blocks_per_page=1

[filesystem]
log_all_operations=false
logfile="/tmp/lazyfs.log"
"""


def config_name(n: int, c: RootCause) -> str:
    return f"cause-{n}-{re.sub(r'[^a-z0-9]+', '-', c.kind.lower()).strip('-')}-{c.id}.toml"


def config_text(n: int, c: RootCause, exploration: Exploration) -> str:
    """A whole LazyFS config reproducing root cause `n` (it must have a fault)."""
    assert c.lazyfs is not None
    fault = c.lazyfs
    comments = [
        f"powercut root cause #{n} {c.id} ({c.kind}, {c.verdict}) in {exploration.trace}",
        c.summary,
        f"barrier to add: {c.barrier}",
        "",
    ]
    if fault.note:
        comments.append(f"Note: {fault.note}.")
    comments += [
        "powercut materialises the cause's culprit state with:",
        f"  {c.replay}",
        "",
        "To reproduce: mount LazyFS with this config over the program's data directory",
        "(-m), its root (-r) being the directory the fault's paths start with, holding",
        "the trace's initial tree; run the workload until LazyFS",
        "crashes; remount without the [[injection]] and start the program: it fails with",
    ]
    comments += [f"  {s.signature}" for s in c.signatures[:3]]
    # A signature or path may hold a newline: every line of it stays a comment.
    lines = [part for line in comments for part in (line.splitlines() or [""])]
    header = "\n".join(f"# {line}".rstrip() for line in lines)
    return f"{header}\n\n{BASE_CONFIG}\n{fault.toml()}\n"


def write_lazyfs_dir(directory: str | os.PathLike[str], exploration: Exploration
                     ) -> list[Path]:
    """Write the configs and README.txt into `directory` (made if missing); return them."""
    target = Path(directory)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PowercutError(
            f"cannot make the LazyFS config directory {target}: {e.strerror or e}") from e
    written: list[Path] = []
    index = [f"LazyFS faults for the root causes powercut found in {exploration.trace}", ""]
    causes = exploration.causes
    for n, c in enumerate(causes, 1):
        if c.lazyfs is None:
            index.append(f"#{n} {c.kind} {c.id}: no LazyFS fault ({c.lazyfs_why_not})")
        else:
            path = target / config_name(n, c)
            write_text_atomic(path, config_text(n, c, exploration), "LazyFS config")
            written.append(path)
            index.append(f"#{n} {c.kind} {c.id}: {path.name}")
        index += [f"    {c.summary}", f"    barrier: {c.barrier}", f"    replay: {c.replay}", ""]
    if not causes:
        index.append("No root cause was found: there is nothing to reproduce.")
    readme = target / "README.txt"
    write_text_atomic(readme, "\n".join(index).rstrip() + "\n", "LazyFS README")
    return [*written, readme]
